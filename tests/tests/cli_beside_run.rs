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
