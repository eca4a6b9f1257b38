//! Strangers cannot hold the door. TLS must accept any client certificate
//! (a new device enrols over it), so hundreds of strangers can complete the
//! handshake: they get at most their own share of places (a cap, and a cap
//! per address), each for at most the enrolment deadline, and an enrolled
//! device syncs meanwhile.

mod common;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use relay::limits::{ENROLMENT_DEADLINE, MAX_UNENROLLED_CONNECTIONS, MAX_UNENROLLED_PER_ADDRESS};
use relay::server::{CLOSE_BUSY, CLOSE_TOO_SLOW};
use relay::tls::{self, Fingerprint, Identity};
use relay::transport;

use common::{Relay, device, enrol, sync_ok};

/// Strangers in the test: a few hundred, from this many loopback addresses
/// (127.0.0.2, 127.0.0.3, ...), so both caps are reached.
const STRANGERS: usize = 300;
const ADDRESSES: usize = 30;

/// Time a closed connection's news may take to reach the stranger.
const CLOSE_MARGIN: Duration = Duration::from_secs(10);

/// How a stranger's connection ended.
#[derive(Debug)]
enum Ended {
    /// Turned away at once, too many enrolling.
    Busy,
    /// Dropped by the relay after this long.
    TooSlow(Duration),
    Other(String),
}

/// A stranger: a fresh key the relay has never seen, a completed handshake,
/// a stream opened, and then nothing, ever (keep-alives hold the connection
/// open from its side).
async fn stranger(index: usize, relay: SocketAddr, pinned: Fingerprint) -> Ended {
    let octet = 2 + (index % ADDRESSES) as u8;
    let local = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(127, 0, 0, octet)), 0);
    let endpoint = transport::client_endpoint(local).expect("a client endpoint");
    let identity = Identity::generate(&format!("stranger {index}")).expect("a key");
    let config = tls::client_config(&identity, pinned).expect("a client config");
    let started = Instant::now();
    let conn = match transport::connect(&endpoint, config, relay).await {
        Ok(conn) => conn,
        Err(e) => return Ended::Other(format!("handshake: {e}")),
    };
    // Open a stream and say nothing on it.
    let _streams = conn.open_bi().await;
    match conn.closed().await {
        quinn::ConnectionError::ApplicationClosed(close)
            if close.error_code == CLOSE_BUSY.into() =>
        {
            Ended::Busy
        }
        quinn::ConnectionError::ApplicationClosed(close)
            if close.error_code == CLOSE_TOO_SLOW.into() =>
        {
            Ended::TooSlow(started.elapsed())
        }
        other => Ended::Other(other.to_string()),
    }
}

#[test]
fn strangers_that_stall_neither_stop_an_enrolled_device_nor_stay() {
    let relay = Relay::start();
    let centre = relay.add_centre("Zilupes KRC");
    let cli = device("Zilupes KRC", "Zilupes dators");
    enrol(&cli, &relay.centre_code(centre));
    sync_ok(&cli);
    let pinned: Fingerprint = relay.fingerprint().parse().expect("the relay's key");
    let addr = relay.addr();

    let runtime = tokio::runtime::Runtime::new().expect("a runtime");
    let strangers: Vec<_> = (0..STRANGERS)
        .map(|i| runtime.spawn(stranger(i, addr, pinned)))
        .collect();
    // While the strangers hold every place they can get, the device syncs.
    let admitted = MAX_UNENROLLED_CONNECTIONS.min(ADDRESSES * MAX_UNENROLLED_PER_ADDRESS);
    relay.wait_for_log("turned away a stranger");
    for k in 0..3 {
        cli.add([
            "--title",
            &format!("Kamēr svešie gaida nr. {k}"),
            "--kind",
            "meeting",
            "--date",
            "2026-12-02",
        ]);
        sync_ok(&cli);
    }

    let ended: Vec<Ended> = runtime.block_on(async {
        let mut ended = Vec::new();
        for handle in strangers {
            ended.push(handle.await.expect("a stranger's task"));
        }
        ended
    });
    let busy = ended.iter().filter(|e| matches!(e, Ended::Busy)).count();
    let dropped: Vec<Duration> = ended
        .iter()
        .filter_map(|e| match e {
            Ended::TooSlow(after) => Some(*after),
            _ => None,
        })
        .collect();
    let other: Vec<&String> = ended
        .iter()
        .filter_map(|e| match e {
            Ended::Other(why) => Some(why),
            _ => None,
        })
        .collect();
    assert!(
        other.is_empty(),
        "strangers that ended otherwise: {other:?}"
    );
    assert_eq!(
        dropped.len(),
        admitted,
        "places taken by strangers (the rest were turned away: {busy})"
    );
    let longest = dropped.iter().max().copied().unwrap_or_default();
    assert!(
        longest <= ENROLMENT_DEADLINE + CLOSE_MARGIN,
        "a stranger stayed {longest:?}"
    );

    // Every place was given back: a new device enrols at once.
    let newcomer = device("Zilupes KRC", "Jaunais dators");
    enrol(&newcomer, &relay.centre_code(centre));
    sync_ok(&newcomer);
    assert_eq!(newcomer.list_json(&[]).len(), 3);
}
