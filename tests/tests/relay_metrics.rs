//! `relay serve --metrics ADDR` (docs/OPERATIONS.md): Prometheus's text
//! format on `GET /metrics`, whose counters move by what the relay did.

mod common;

use std::collections::BTreeMap;
use std::time::Instant;

use common::raw::{RawClient, block_on};
use common::{LINE_TIMEOUT, Relay, device, enrol, http_get, sync_ok};

/// Every sample of a scrape: `name{labels}` → value.
fn scrape(url: &str) -> BTreeMap<String, f64> {
    let (status, body) = http_get(url);
    assert!(status.contains("200"), "GET /metrics: {status}");
    let text = String::from_utf8(body).expect("UTF-8 metrics");
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|l| {
            let (name, value) = l.rsplit_once(' ').expect("a sample line");
            (name.to_owned(), value.parse().expect("a number"))
        })
        .collect()
}

fn value(samples: &BTreeMap<String, f64>, name: &str) -> f64 {
    samples.get(name).copied().unwrap_or(0.0)
}

/// Scrapes until `done` holds (bounded by [`LINE_TIMEOUT`]): counters of a
/// connection are added when the relay sees it end, just after the device exits.
fn scrape_until(url: &str, done: impl Fn(&BTreeMap<String, f64>) -> bool) -> BTreeMap<String, f64> {
    let deadline = Instant::now() + LINE_TIMEOUT;
    loop {
        let samples = scrape(url);
        if done(&samples) {
            return samples;
        }
        assert!(
            Instant::now() < deadline,
            "metrics never got there: {samples:?}"
        );
        std::thread::yield_now();
    }
}

#[test]
fn the_counters_move_by_what_a_device_did() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let metrics = format!("127.0.0.1:{port}");
    let relay = Relay::start_with(&["--metrics", &metrics]);
    let url = format!("http://{metrics}/metrics");
    let before = scrape(&url);
    assert_eq!(value(&before, "relay_changes_stored_total"), 0.0);
    assert!(
        value(&before, "relay_data_dir_free_bytes") > 0.0,
        "{before:?}"
    );

    let centre = relay.add_centre("Ludzas KRC");
    let laptop = device("Ludzas KRC", "Ludzas dators");
    enrol(&laptop, &relay.centre_code(centre));
    for k in 0..3 {
        laptop.add([
            "--title",
            &format!("Darbnīca {k}"),
            "--kind",
            "event",
            "--date",
            "2026-11-20",
        ]);
    }
    let (sent, _) = sync_ok(&laptop);
    assert!(sent >= 3, "sent {sent}");
    let after = scrape_until(&url, |s| {
        value(s, "relay_devices_connected") == 0.0 && value(s, "relay_bytes_received_total") > 0.0
    });
    assert_eq!(
        value(&after, "relay_changes_stored_total"),
        sent as f64,
        "changes stored: {after:?}"
    );
    assert_eq!(
        value(&after, "relay_sessions_total"),
        1.0,
        "one sync, one session: {after:?}"
    );
    assert_eq!(value(&after, "relay_sessions_active"), 0.0, "{after:?}");
    assert!(value(&after, "relay_bytes_sent_total") > 0.0, "{after:?}");
    assert_eq!(
        value(&after, "relay_storage_seconds_count"),
        1.0,
        "{after:?}"
    );
    assert_eq!(
        value(&after, "relay_session_errors_total"),
        0.0,
        "{after:?}"
    );

    // A device connected is counted while it is; a session whose stream the
    // device cuts mid-way ends with an error, counted. The scrapes run beside
    // the client's runtime, which keeps its connection going meanwhile.
    let scraped = |done: fn(&BTreeMap<String, f64>) -> bool| {
        let url = url.clone();
        tokio::task::spawn_blocking(move || scrape_until(&url, done))
    };
    block_on(async {
        let client = RawClient::connect(laptop.data_dir(), relay.addr(), relay.fingerprint()).await;
        let connected = scraped(|s| value(s, "relay_devices_connected") == 1.0)
            .await
            .expect("scraped");
        assert_eq!(
            value(&connected, "relay_sessions_active"),
            0.0,
            "{connected:?}"
        );
        let mut stream = client.stream().await;
        assert_eq!(stream.hello(vec![centre]).await, vec![centre]);
        stream.send.reset(0_u32.into()).expect("cut the stream");
        let cut = scraped(|s| value(s, "relay_session_errors_total") == 1.0)
            .await
            .expect("scraped");
        assert_eq!(value(&cut, "relay_changes_stored_total"), sent as f64);
        client.close().await;
    });
    scrape_until(&url, |s| value(s, "relay_devices_connected") == 0.0);

    // A revoked device is refused, and counted by reason.
    let listed = relay.admin(["devices"]);
    let id = listed
        .lines()
        .find(|l| l.contains("Ludzas dators"))
        .and_then(|l| l.split_whitespace().next())
        .expect("the device's id")
        .to_owned();
    relay.admin(["revoke", &id]);
    let run = laptop.run(["sync"]);
    assert_ne!(run.code, Some(0));
    let refused = scrape(&url);
    assert_eq!(
        value(&refused, "relay_refusals_total{reason=\"revoked\"}"),
        1.0,
        "{refused:?}"
    );
    assert_eq!(
        value(&refused, "relay_changes_stored_total"),
        sent as f64,
        "a refused device stored nothing"
    );
}
