//! A device whose office server speaks a newer protocol version, end to
//! end: a real `field-client` against a stand-in relay of protocol
//! `PROTOCOL_VERSION + 1` (a QUIC server made with the relay's own TLS and
//! transport code, answering every `Hello` as a newer relay does: error code
//! 1, its version first). `sync` fails saying this program must be updated,
//! `status` says so, and `field-client run` says it in the app's status line,
//! waits an hour before trying again, and keeps recording.
//!
//!
//! And the other way round: a device of the previous protocol version (an
//! enrolled device's key, speaking `Hello` of `PROTOCOL_VERSION - 1` over
//! QUIC) gets today's relay process's refusal, which names the relay's
//! version first and tells the device to update.

mod common;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use common::{Relay, start_daemon, wait_for_line};
use relay::tls::{Fingerprint, Identity, client_config, server_config};
use relay::transport;
use sync_core::sync::wire::FrameBuffer;
use sync_core::sync::{ErrorCode, Frame, PROTOCOL_VERSION};
use tests::Cli;

/// A stand-in for a relay of the next protocol version: every `Hello` gets
/// the refusal such a relay sends. Counts the `Hello`s it read.
struct NewerRelay {
    addr: SocketAddr,
    fingerprint: String,
    hellos: Arc<AtomicUsize>,
    _runtime: tokio::runtime::Runtime,
}

impl NewerRelay {
    fn start() -> NewerRelay {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("a runtime");
        let identity = Identity::generate("relay").expect("a key");
        let fingerprint = identity.fingerprint().to_string();
        let config = server_config(&identity).expect("a TLS configuration");
        let hellos = Arc::new(AtomicUsize::new(0));
        let endpoint = runtime.block_on(async {
            transport::server_endpoint(config, "127.0.0.1:0".parse().expect("an address"))
                .expect("listen")
        });
        let addr = endpoint.local_addr().expect("an address");
        let counted = hellos.clone();
        runtime.spawn(async move {
            while let Some(incoming) = endpoint.accept().await {
                let counted = counted.clone();
                tokio::spawn(async move {
                    let Ok(conn) = incoming.await else { return };
                    while let Ok((mut send, mut recv)) = conn.accept_bi().await {
                        if read_hello(&mut recv).await {
                            counted.fetch_add(1, Ordering::SeqCst);
                            let newer = PROTOCOL_VERSION + 1;
                            let refusal = Frame::Error {
                                code: ErrorCode::UnsupportedVersion,
                                message: format!(
                                    "protocol {newer}: this office server speaks sync protocol \
                                     {newer} and the device {PROTOCOL_VERSION}: update \
                                     field-client on the device"
                                ),
                            };
                            let bytes = refusal.encode().expect("encode");
                            let _ = transport::write_all(&mut send, &bytes).await;
                            let _ = send.finish();
                        }
                    }
                });
            }
        });
        NewerRelay {
            addr,
            fingerprint,
            hellos,
            _runtime: runtime,
        }
    }

    fn hellos(&self) -> usize {
        self.hellos.load(Ordering::SeqCst)
    }
}

/// Reads frames until a `Hello` (true) or the stream's end (false).
async fn read_hello(recv: &mut quinn::RecvStream) -> bool {
    let mut frames = FrameBuffer::default();
    loop {
        match frames.next_frame() {
            Ok(Some(Frame::Hello { .. })) => return true,
            Ok(Some(_)) => {}
            Ok(None) => match transport::read_chunk(recv).await {
                Ok(Some(bytes)) => frames.extend(&bytes),
                _ => return false,
            },
            Err(_) => return false,
        }
    }
}

/// A centre's device enrolled with `relay` (the enrolment kept as `enrol`
/// keeps it; the stand-in cannot enrol anyone), with one record not sent.
fn device_of(relay: &NewerRelay) -> Cli {
    let cli = common::device("Preiļu KRC", "Preiļu dators");
    cli.add([
        "--title",
        "Pirms atjaunināšanas",
        "--kind",
        "meeting",
        "--date",
        "2026-12-01",
    ]);
    let store = sync_core::Store::open(&cli.store_path()).expect("the store");
    let enrolment = field_client::net::Enrolment {
        relay: relay.addr.to_string(),
        fingerprint: relay.fingerprint.clone(),
        office: false,
        centre: "Preiļu KRC".into(),
        journal: store.home_journal().expect("a home journal").0,
        enrolled_at: chrono::Utc::now(),
    };
    field_client::net::keep_enrolment(&store, &enrolment).expect("keep the enrolment");
    cli
}

#[test]
fn sync_with_a_newer_relay_says_to_update_this_program_and_keeps_the_record() {
    let relay = NewerRelay::start();
    let cli = device_of(&relay);
    let run = cli.run(["sync"]);
    run.assert_plain_failure("sync with a newer relay");
    assert!(
        run.stderr
            .contains("this program is older than the office server")
            && run.stderr.contains("update field-client on this computer"),
        "{}",
        run.stderr
    );
    assert_eq!(relay.hellos(), 1);
    assert_eq!(common::unsent(&cli), 1, "the record stays, unsent");
    let status = cli.status_json();
    assert_eq!(status["sync"]["update_needed"], "this_program", "{status}");
    // `status` says it in the app's words (the system's language: English here).
    let words = cli.ok(["status"]);
    assert!(
        words.contains("This program is older than the office server: update it on this computer"),
        "{words}"
    );
}

#[test]
fn the_daemon_says_so_in_the_app_waits_an_hour_and_keeps_recording() {
    let relay = NewerRelay::start();
    let cli = device_of(&relay);
    let (mut daemon, stdout, stderr) = start_daemon(&cli, &["--web-port", "0"]);
    let url = common::app_url(&stdout);
    let said = wait_for_line(&stderr, "trying again in", "field-client run")
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(
        said.contains("this program is older than the office server")
            && said.contains(&format!(
                "trying again in {}s",
                field_client::net::VERSION_MISMATCH_RETRY.as_secs()
            )),
        "{said}"
    );
    // The app's status line tells it in the volunteers' words.
    let (status, body) = common::http_get(&format!("{url}/status"));
    let body = String::from_utf8(body).expect("UTF-8");
    assert!(status.contains("200"), "{status}");
    assert!(
        body.contains("Šī programma ir vecāka par biroja serveri"),
        "the status line does not say to update:\n{body}"
    );
    // Recording goes on beside it.
    let id = cli.add([
        "--title",
        "Pēc atteikuma",
        "--kind",
        "workshop",
        "--date",
        "2026-12-02",
    ]);
    assert!(!id.is_empty());
    assert_eq!(common::unsent(&cli), 2);
    assert!(
        daemon.0.try_wait().expect("the daemon's state").is_none(),
        "field-client run exited"
    );
    // One attempt so far: the next is an hour away.
    assert_eq!(relay.hellos(), 1, "the daemon tried again at once");
}

#[test]
fn a_relay_refuses_a_device_of_the_previous_version_telling_it_to_update() {
    let relay = Relay::start();
    let centre = relay.add_centre("Līvānu KRC");
    let cli = common::device("Līvānu KRC", "Līvānu dators");
    common::enrol(&cli, &relay.centre_code(centre));
    // The enrolled device's key, as a program of the previous version would
    // present it.
    let identity = Identity::load(cli.data_dir(), field_client::net::DEVICE_IDENTITY_STEM)
        .expect("the device's key");
    let pinned: Fingerprint = relay.fingerprint().parse().expect("a fingerprint");
    let older = PROTOCOL_VERSION - 1;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    let answer = runtime.block_on(async {
        let endpoint =
            transport::client_endpoint("127.0.0.1:0".parse().expect("an address")).expect("bind");
        let config = client_config(&identity, pinned).expect("a TLS configuration");
        let conn = transport::connect(&endpoint, config, relay.addr())
            .await
            .expect("connect");
        let (mut send, mut recv) = conn.open_bi().await.expect("a stream");
        let hello = Frame::Hello {
            version: older,
            software: "field-client 0.0.9".into(),
            unsent: Some(1),
            journals: vec![centre],
        };
        transport::write_all(&mut send, &hello.encode().expect("encode"))
            .await
            .expect("write");
        let mut frames = FrameBuffer::default();
        let deadline = tokio::time::Instant::now() + common::LINE_TIMEOUT;
        loop {
            if let Some(frame) = frames.next_frame().expect("a frame") {
                break frame;
            }
            let chunk = tokio::time::timeout_at(deadline, transport::read_chunk(&mut recv))
                .await
                .expect("the relay answers in time")
                .expect("read");
            frames.extend(&chunk.expect("the relay answers before closing"));
        }
    });
    let Frame::Error {
        code: ErrorCode::UnsupportedVersion,
        message,
    } = &answer
    else {
        panic!("the relay answered {answer:?}")
    };
    assert!(
        message.starts_with(&format!("protocol {PROTOCOL_VERSION}:")),
        "{message}"
    );
    assert!(
        message.contains("update field-client on the device"),
        "{message}"
    );
    relay.wait_for_log(&format!("the device {older}"));
}
