//! Commands run beside `field-client run`: the running process owns the
//! store and lends it to each command (field-client/src/owner.rs). Every
//! command works as it does alone, at once (never the "busy" wait), and
//! what it records is sent by the running process without waiting for a
//! timer; the app keeps serving the store afterwards. A leftover control
//! file from a `run` that died changes nothing.

mod common;

use common::{Relay, device, enrol, sync_ok, wait_for_line};

fn record(cli: &tests::Cli, title: &str) -> String {
    cli.add([
        "--title",
        title,
        "--kind",
        "workshop",
        "--date",
        "2026-12-05",
        "--count",
        "volunteers=6",
    ])
}

#[test]
fn commands_beside_run_borrow_its_store_and_their_records_are_sent_at_once() {
    let relay = Relay::start();
    let centre = relay.add_centre("Ludzas KRC");
    let cli = device("Ludzas KRC", "Ludzas dators");
    record(&cli, "Pirms");
    enrol(&cli, &relay.centre_code(centre));
    sync_ok(&cli);
    let (_daemon, stdout, stderr) = common::start_daemon(&cli, &["--web-port", "0"]);
    let url = common::app_url(&stdout);
    wait_for_line(&stderr, "in the background", "field-client run")
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(
        cli.data_dir().join("run-control").exists(),
        "the running process says how to reach it"
    );

    for k in 0..5 {
        let title = format!("Blakus nr. {k}");
        let run = cli.run([
            "add",
            "--title",
            &title,
            "--kind",
            "workshop",
            "--date",
            "2026-12-05",
        ]);
        assert_eq!(run.code, Some(0), "add {k} beside run: {}", run.stderr);
        assert!(
            !run.stderr.contains("busy"),
            "the command waited instead of borrowing the store: {}",
            run.stderr
        );
        // Sent by the running process on its open connection, at once
        // (it is told of the change; no timer is involved).
        wait_for_line(&stderr, "stored 1 changes", "field-client run")
            .unwrap_or_else(|e| panic!("add {k}: {e}"));
    }
    let listed = cli.list_json(&[]);
    assert_eq!(listed.len(), 6);
    assert_eq!(
        common::unsent(&cli),
        0,
        "everything recorded beside run is sent"
    );
    // The relay holds them: the office downloads every one.
    let office = device("IIC birojs", "Biroja dators");
    enrol(&office, &relay.office_code());
    sync_ok(&office);
    let at_office = office.list_json(&["--all-centres"]);
    assert_eq!(at_office.len(), 6, "{at_office:?}");
    // The app took the store back: it lists what the commands recorded.
    let (status, body) = common::http_get(&format!("{url}/"));
    assert!(status.contains("200"), "{status}");
    let body = String::from_utf8(body).expect("UTF-8");
    assert!(
        body.contains("Blakus nr. 4"),
        "the app lost its store:\n{body}"
    );
}

#[test]
fn a_control_file_left_by_a_run_that_died_changes_nothing() {
    let cli = device("Zilupes KRC", "Zilupes dators");
    // A port nobody listens on (bound, then released), then one that
    // answers something else entirely.
    let free_port = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("address")
        .port();
    let control = cli.data_dir().join("run-control");
    std::fs::write(&control, format!("{free_port} not-the-token\n")).expect("write");
    record(&cli, "Ar vecu failu");
    let stranger = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = stranger.local_addr().expect("address").port();
    std::thread::spawn(move || {
        for stream in stranger.incoming().flatten() {
            use std::io::Write;
            let _ = (&stream).write_all(b"HTTP/1.1 400 Bad Request\r\n\r\n");
        }
    });
    std::fs::write(&control, format!("{port} some-token\n")).expect("write");
    record(&cli, "Ar svešu portu");
    assert_eq!(cli.list_json(&[]).len(), 2);
}

/// A CSV of `rows` activities with long descriptions: enough appended bytes
/// for a compaction to be due.
fn long_rows_csv(from: usize, rows: usize) -> String {
    let mut text = String::from("title,kind,date,hours,teachers,description\n");
    for i in from..from + rows {
        let about: Vec<String> = (0..32_u32)
            .map(|k| format!("{:08x}", (i as u32 * 64 + k).wrapping_mul(2_654_435_761)))
            .collect();
        let about = about.join(" ");
        text.push_str(&format!(
            "Nodarbība nr. {i},seminar,2026-03-{:02},2,{},{about}\n",
            1 + i % 28,
            i % 20
        ));
    }
    text
}

fn appended_changes(cli: &tests::Cli) -> u64 {
    let replica = sync_core::Replica::open(&cli.store_path()).expect("open the store");
    let journal = replica.journal_id();
    replica
        .store()
        .appended_count(journal)
        .expect("count appended changes")
}

/// `rows` long rows imported into `cli`'s journal; asserts that a
/// compaction is due after it.
fn import_long_rows(cli: &tests::Cli, rows: usize) {
    let file = cli.file("pirmie.csv");
    std::fs::write(&file, long_rows_csv(0, rows)).expect("write CSV");
    cli.ok(["import", file.to_str().expect("UTF-8")]);
}

fn compaction_due(cli: &tests::Cli) -> bool {
    let replica = sync_core::Replica::open(&cli.store_path()).expect("open the store");
    let journal = replica.journal_id();
    let store = replica.store();
    let appended = store.appended(journal).expect("appended changes");
    let snapshot = store.snapshot_len(journal).expect("snapshot");
    sync_core::limits::compaction_due(appended.changes, appended.bytes, snapshot)
}

/// Rows whose changes are more than `COMPACT_AFTER_BYTES` (a megabyte).
const ROWS_DUE: usize = 3_000;

/// Neither an import nor a sync compacts (each would load the whole journal
/// only for that): the running `run` does once the store is quiet, after an
/// import made beside it.
#[test]
fn run_compacts_an_import_made_beside_it_once_the_store_is_quiet() {
    let cli = device("Kārsavas KRC", "Kārsavas dators");
    let (daemon, stdout, stderr) = common::start_daemon(&cli, &["--web-port", "0"]);
    // Serving: the store is open in `run`, and the import borrows it.
    common::app_url(&stdout);
    import_long_rows(&cli, ROWS_DUE);
    wait_for_line(&stderr, "Compacted the store", "field-client run")
        .unwrap_or_else(|e| panic!("{e}"));
    drop(daemon);
    assert!(!compaction_due(&cli));
    assert_eq!(
        appended_changes(&cli),
        0,
        "everything folded into the snapshot"
    );
    assert_eq!(cli.list_json(&["--all"]).len(), ROWS_DUE);
}

/// …and after an import made before it started.
#[test]
fn run_compacts_an_import_made_before_it_started() {
    let cli = device("Ciblas KRC", "Ciblas dators");
    import_long_rows(&cli, ROWS_DUE);
    assert!(
        compaction_due(&cli),
        "the import alone leaves its changes appended, due to be compacted"
    );
    let (daemon, _stdout, stderr) = common::start_daemon(&cli, &["--web-port", "0"]);
    wait_for_line(&stderr, "Compacted the store", "field-client run")
        .unwrap_or_else(|e| panic!("{e}"));
    drop(daemon);
    assert_eq!(appended_changes(&cli), 0);
    assert_eq!(cli.list_json(&["--all"]).len(), ROWS_DUE);
}
