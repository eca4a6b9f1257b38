//! The monthly data budget of a centre on a prepaid connection: a sync stops
//! at the budget, `status` says why, recording goes on, and syncing resumes
//! when the budget is raised or the month rolls over. Real `relay` and
//! `field-client` processes; bytes counted at the client's UDP socket.

mod common;

use serde_json::{Value, json};
use sync_core::Store;

use common::{Relay, device, enrol, import_many, unsent};

/// Settings the client keeps its data use under (docs: field-client/src/budget.rs).
const DATA_USED_KEY: &str = "data_used";

fn data(cli: &tests::Cli) -> Value {
    cli.status_json()["data"].clone()
}

/// Rewrites this device's record of the data it used (the store must be closed).
fn set_data_used(cli: &tests::Cli, used: Value) {
    let store = Store::open(&cli.store_path()).expect("open the store");
    store
        .set_setting(DATA_USED_KEY, &used)
        .expect("write the data use");
}

#[test]
fn a_budget_smaller_than_the_pending_data_stops_the_sync_until_it_is_raised() {
    let relay = Relay::start();
    let centre = relay.add_centre("Ludzas KRC");
    let cli = device("Ludzas KRC", "Ludzas dators");
    import_many(&cli, 400, "Ludza");
    enrol(&cli, &relay.centre_code(centre));
    let plan = cli.ok(["data-plan", "--budget", "12kB", "--metered", "on"]);
    assert!(plan.contains("12.0 kB"), "{plan}");

    let stopped = cli.run(["sync"]);
    assert_ne!(stopped.code, Some(0), "a sync over budget must not succeed");
    assert!(
        stopped.stderr.contains("data budget of 12.0 kB"),
        "the error says why: {}",
        stopped.stderr
    );
    let used = data(&cli)["used"].as_u64().expect("bytes used");
    assert!(
        (1..=12_000).contains(&used),
        "the sync stopped at the budget: {used} B used of 12,000"
    );
    assert_eq!(unsent(&cli), 400, "nothing was half-sent");
    let status = cli.ok(["status"]);
    assert!(
        status.contains("is used up") && status.contains("records are still saved here"),
        "status says why syncing stopped:\n{status}"
    );
    // Recording goes on; a new attempt does not connect (no bytes spent).
    cli.ok([
        "add",
        "--title",
        "Ziemassvētku tirdziņš",
        "--kind",
        "event",
        "--date",
        "2026-12-12",
    ]);
    let again = cli.run(["sync"]);
    assert_ne!(again.code, Some(0));
    assert_eq!(
        data(&cli)["used"].as_u64(),
        Some(used),
        "a spent budget makes no connection"
    );

    cli.ok(["data-plan", "--budget", "2MB"]);
    let run = cli.ok(["sync"]);
    assert!(run.contains("Sent"), "{run}");
    assert_eq!(
        unsent(&cli),
        0,
        "after raising the budget everything is sent"
    );
    let used_after = data(&cli)["used"].as_u64().expect("bytes used");
    assert!(used_after > used, "the sync's bytes were counted");
}

#[test]
fn a_spent_budget_allows_syncing_again_in_a_new_month() {
    let relay = Relay::start();
    let centre = relay.add_centre("Zilupes KRC");
    let cli = device("Zilupes KRC", "Zilupes dators");
    enrol(&cli, &relay.centre_code(centre));
    cli.ok(["data-plan", "--budget", "500kB"]);
    import_many(&cli, 50, "Zilupe");
    let month = chrono::Local::now().format("%Y-%m").to_string();
    set_data_used(&cli, json!({ "month": month, "bytes": 500_000 }));
    let refused = cli.run(["sync"]);
    assert_ne!(refused.code, Some(0));
    assert!(refused.stderr.contains("is used up"), "{}", refused.stderr);
    assert_eq!(unsent(&cli), 50);
    // What was used is now last month's.
    set_data_used(&cli, json!({ "month": "2000-01", "bytes": 500_000 }));
    assert_eq!(
        data(&cli)["used"].as_u64(),
        Some(0),
        "a new month starts from zero"
    );
    cli.ok(["sync"]);
    assert_eq!(unsent(&cli), 0);
}

#[test]
fn a_metered_daemon_disconnects_once_in_sync_and_connects_again_to_send() {
    let relay = Relay::start();
    let centre = relay.add_centre("Dagdas KRC");
    let cli = device("Dagdas KRC", "Dagdas dators");
    enrol(&cli, &relay.centre_code(centre));
    cli.ok(["data-plan", "--metered", "on"]);
    let add = |title: &str| {
        cli.ok([
            "add",
            "--title",
            title,
            "--kind",
            "workshop",
            "--date",
            "2026-11-20",
        ])
    };
    add("Adventes vainagu darbnīca");
    let (daemon, _, said) = common::start_daemon(&cli, &["--no-web"]);
    let stored_here = |what: &str| {
        // The daemon says so once the relay's Ack is recorded.
        common::wait_for_line(&said, "stored", "the daemon")
            .unwrap_or_else(|why| panic!("{what}: {why}"));
    };
    relay.wait_for_log("device connected");
    stored_here("the first record");
    // Once in sync a metered daemon hangs up: a new record makes it open a
    // new connection (one kept open would carry the record on the old one).
    add("Piparkūku cepšana");
    relay.wait_for_log("device connected");
    stored_here("the second record");
    drop(daemon);
    assert_eq!(unsent(&cli), 0);
}
