//! What a device notices about the relay, and says in plain words: a revoked
//! device always reads that it was revoked (never "connection lost"), and its
//! `field-client run` keeps serving the app and says why syncing stopped; a
//! relay that died is noticed within 30 seconds.

mod common;

use std::time::{Duration, Instant};

use common::{Relay, device, enrol, sync_ok, wait_for_line};
use tests::Cli;

/// Syncs of a revoked device in a row: the race this guards against (the
/// relay closing while the device still wrote) lost about one in ten.
const REVOKED_SYNCS: usize = 50;

/// Longest a device may take to notice that the relay is gone, as promised
/// (the transport's own bound, `relay::tls::DEAD_RELAY_NOTICED_WITHIN`, is
/// 28 s, leaving two for a loaded machine to print the line).
const NOTICE_DEAD_RELAY_WITHIN: Duration = Duration::from_secs(30);

fn record(cli: &Cli, title: &str) -> String {
    cli.add([
        "--title",
        title,
        "--kind",
        "meeting",
        "--date",
        "2026-12-01",
    ])
}

fn device_id(cli: &Cli) -> String {
    cli.status_json()["device_id"]
        .as_str()
        .expect("status shows the device id")
        .to_owned()
}

/// A centre's device, enrolled and in sync, then revoked by the office.
fn revoked_device(relay: &Relay) -> Cli {
    let centre = relay.add_centre("Līvānu KRC");
    let cli = device("Līvānu KRC", "Pazudušais dators");
    record(&cli, "Pirms atsaukšanas");
    enrol(&cli, &relay.centre_code(centre));
    sync_ok(&cli);
    relay.admin(["revoke", &device_id(&cli)]);
    cli
}

#[test]
fn a_revoked_device_always_reads_that_it_was_revoked() {
    let relay = Relay::start();
    let cli = revoked_device(&relay);
    // Something to send, so every sync writes Hello, Open and a batch at
    // once: the writes the relay must not cut short before its answer.
    record(&cli, "Pēc atsaukšanas");
    for attempt in 1..=REVOKED_SYNCS {
        let run = cli.run(["sync"]);
        run.assert_plain_failure("sync of a revoked device");
        assert!(
            run.stderr.contains("revoked by the office") && !run.stderr.contains("connection lost"),
            "attempt {attempt} of {REVOKED_SYNCS}:\n{}",
            run.stderr
        );
    }
    assert_eq!(common::unsent(&cli), 1, "the record stays on the device");
}

#[test]
fn a_revoked_devices_daemon_keeps_serving_the_app_and_says_why() {
    let relay = Relay::start();
    let cli = revoked_device(&relay);
    let (mut daemon, stdout, stderr) = common::start_daemon(&cli, &["--web-port", "0"]);
    let url = common::app_url(&stdout);
    wait_for_line(&stderr, "the app stays open", "field-client run")
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(
        daemon.0.try_wait().expect("the daemon's state").is_none(),
        "field-client run exited"
    );
    // The app still records, and its status line says why nothing is sent.
    let (status, body) = common::http_get(&format!("{url}/status"));
    let body = String::from_utf8(body).expect("UTF-8");
    assert!(status.contains("200"), "{status}");
    assert!(
        body.contains("Birojs ir atsaucis šī datora piekļuvi"),
        "the status line does not say the device was revoked:\n{body}"
    );
    let id = record(&cli, "Ieraksts pēc atsaukšanas");
    assert!(!id.is_empty());
    assert_eq!(cli.status_json()["sync"]["revoked"], true);
}

#[test]
fn a_relay_that_died_is_noticed_within_thirty_seconds() {
    let mut relay = Relay::start();
    let centre = relay.add_centre("Kārsavas KRC");
    let cli = device("Kārsavas KRC", "Kārsavas dators");
    record(&cli, "Pirms servera kļūmes");
    enrol(&cli, &relay.centre_code(centre));
    let (_daemon, _, said) = common::start_daemon(&cli, &["--no-web"]);
    wait_for_line(&said, "stored", "the daemon").unwrap_or_else(|e| panic!("{e}"));

    // The relay's machine loses power: no process answers, nothing closes
    // the connection; only the silence tells.
    relay.kill();
    let died = Instant::now();
    let noticed =
        wait_for_line(&said, "trying again in", "the daemon").unwrap_or_else(|e| panic!("{e}"));
    let after = died.elapsed();
    assert!(
        after <= NOTICE_DEAD_RELAY_WITHIN,
        "noticed after {after:?}: {noticed}"
    );
}
