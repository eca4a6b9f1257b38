//! Relay memory with many devices connected at once.
//!
//! `cargo bench -p relay --bench connections` (set `BENCH_DEVICES`, default 1000)
//!
//! Enrols N devices in a fresh registry, starts the real `relay` binary, connects
//! every device (each with its own certificate), runs a full sync session on
//! each (Hello … the end of the download, an empty journal) and keeps them all connected, then reads
//! the relay process's resident memory from /proc.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Instant;

use chrono::Utc;
use relay::registry::Registry;
use relay::server::RELAY_IDENTITY_STEM;
use relay::tls::{self, Fingerprint, Identity};
use relay::transport;
use sync_core::sync::memory::MemoryJournals;
use sync_core::sync::{ClientEvent, ClientSession};
use tokio::sync::Semaphore;
use uuid::Uuid;

/// Handshakes in flight at once: enough to load the relay, few enough that the
/// bench measures steady-state memory rather than a handshake storm.
const CONCURRENT_HANDSHAKES: usize = 64;

fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("read /proc status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS line")
}

fn enrol_devices(dir: &std::path::Path, n: usize) -> Vec<Identity> {
    Identity::load_or_create(dir, RELAY_IDENTITY_STEM, "krc-relay").expect("relay identity");
    let registry = Registry::open(dir).expect("registry");
    let until = Utc::now() + chrono::Duration::hours(1);
    let centres: Vec<Uuid> = (0..10)
        .map(|i| {
            registry
                .add_centre(&format!("Centrs {i}"), Utc::now())
                .expect("centre")
                .id
        })
        .collect();
    (0..n)
        .map(|i| {
            let identity = Identity::generate(&format!("device {i}")).expect("identity");
            let secret = registry
                .new_enrol_secret(Some(centres[i % centres.len()]), until)
                .expect("secret");
            registry
                .enrol(
                    &secret,
                    Uuid::new_v4(),
                    &format!("device {i}"),
                    identity.fingerprint(),
                    Utc::now(),
                )
                .expect("enrol");
            identity
        })
        .collect()
}

/// Connects one device and runs its session until everything is in sync;
/// returns the connection and stream, kept open by the caller.
async fn connect_and_sync(
    endpoint: quinn::Endpoint,
    identity: Identity,
    relay: SocketAddr,
    pinned: Fingerprint,
) -> (quinn::Connection, quinn::SendStream, quinn::RecvStream) {
    let config = tls::client_config(&identity, pinned).expect("client config");
    let conn = transport::connect(&endpoint, config, relay)
        .await
        .expect("connect");
    let (mut send, mut recv) = conn.open_bi().await.expect("stream");
    let mut storage = MemoryJournals::default();
    let mut session = ClientSession::new(Instant::now(), "bench", vec![], &mut storage);
    loop {
        while let Some(bytes) = session.poll_transmit() {
            transport::write_all(&mut send, &bytes)
                .await
                .expect("write");
        }
        while let Some(event) = session.poll_event() {
            match event {
                ClientEvent::Idle => return (conn, send, recv),
                ClientEvent::Closed { reason } => panic!("session closed: {reason}"),
                _ => {}
            }
        }
        let bytes = transport::read_chunk(&mut recv)
            .await
            .expect("read")
            .expect("stream open");
        session.handle_bytes(Instant::now(), &bytes, &mut storage);
    }
}

fn main() {
    let n: usize = std::env::var("BENCH_DEVICES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000);
    let tmp = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).expect("temp dir");
    let dir = tmp.path().join("relay");
    let started = Instant::now();
    let identities = enrol_devices(&dir, n);
    println!("enrolled {n} devices in {:?}", started.elapsed());

    let mut relay = Command::new(env!("CARGO_BIN_EXE_relay"))
        .args(["--data-dir"])
        .arg(&dir)
        .args(["serve", "--listen", "127.0.0.1:0"])
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start relay");
    let mut line = String::new();
    BufReader::new(relay.stdout.take().expect("stdout"))
        .read_line(&mut line)
        .expect("serve line");
    let words: Vec<&str> = line.split_whitespace().collect();
    let addr: SocketAddr = words[3].parse().expect("address");
    let pinned: Fingerprint = words[5].parse().expect("fingerprint");
    let idle_rss = rss_kib(relay.id());

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let connected = runtime.block_on(async {
        let endpoint =
            transport::client_endpoint("127.0.0.1:0".parse().expect("bind")).expect("endpoint");
        let gate = Arc::new(Semaphore::new(CONCURRENT_HANDSHAKES));
        let started = Instant::now();
        let tasks: Vec<_> = identities
            .into_iter()
            .map(|identity| {
                let (endpoint, gate) = (endpoint.clone(), gate.clone());
                tokio::spawn(async move {
                    let _permit = gate.acquire_owned().await.expect("gate");
                    connect_and_sync(endpoint, identity, addr, pinned).await
                })
            })
            .collect();
        let mut connected = Vec::new();
        for task in tasks {
            connected.push(task.await.expect("device task"));
        }
        println!(
            "{} devices connected and synced in {:?}",
            connected.len(),
            started.elapsed()
        );
        connected
    });
    let busy_rss = rss_kib(relay.id());
    println!(
        "relay resident memory: {} KiB idle, {} KiB with {} devices connected",
        idle_rss,
        busy_rss,
        connected.len()
    );
    println!(
        "per connected device: {:.1} KiB",
        (busy_rss.saturating_sub(idle_rss)) as f64 / connected.len() as f64
    );
    drop(connected);
    let _ = relay.kill();
    let _ = relay.wait();
}
