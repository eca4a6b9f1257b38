//! Many devices at once, with the real `relay` binary (release build) over
//! QUIC on loopback:
//!
//! 1. `BENCH_DEVICES` (10,000) enrolled devices of ten centres connect, each
//!    with its own certificate, and complete a sync session (`Hello` … the
//!    end of the download); all stay connected. Time until the last one is
//!    in sync (target ≤ 10 s) and the relay's peak resident memory (target
//!    ≤ 1 GB).
//! 2. `BENCH_BUSY` (1,000) of them record an activity each and sync at the
//!    same moment, on the connections they hold: p50 and p99 per device.
//!
//! `cargo bench -p relay --bench connections`

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use relay::registry::Registry;
use relay::transport;
use sync_core::Journal;
use sync_core::sync::memory::MemoryJournals;
use tokio::sync::Semaphore;
use uuid::Uuid;

use common::{RelayProcess, connect, ms, percentile, record, register, session};

const CENTRES: usize = 10;

/// Handshakes in flight at once, as devices coming online over a minute
/// would be spread; the relay's own limits bound the rest.
const CONCURRENT_HANDSHAKES: usize = 256;

fn env_number(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// A device as the bench drives it.
struct Device {
    id: Uuid,
    centre: Uuid,
    identity: relay::tls::Identity,
}

fn enrol_devices(dir: &std::path::Path, n: usize) -> Vec<Device> {
    common::relay_identity(dir);
    let registry = Registry::open(dir).expect("registry");
    let centres: Vec<Uuid> = (0..CENTRES)
        .map(|i| {
            registry
                .add_centre(&format!("Centrs {i}"), Utc::now())
                .expect("centre")
                .id
        })
        .collect();
    (0..n)
        .map(|i| {
            let centre = centres[i % centres.len()];
            let (id, identity) = register(&registry, Some(centre), &format!("device {i}"));
            Device {
                id,
                centre,
                identity,
            }
        })
        .collect()
}

fn main() {
    let n = env_number("BENCH_DEVICES", 10_000);
    let busy = env_number("BENCH_BUSY", 1_000).min(n);
    let tmp = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).expect("temp dir");
    let dir = tmp.path().join("relay");
    let started = Instant::now();
    let devices = enrol_devices(&dir, n);
    println!(
        "enrolled {n} devices in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    let relay = RelayProcess::start(&dir);
    let (idle_rss, _) = relay.memory_kib();
    let at = relay.at();

    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    runtime.block_on(async {
        let endpoint =
            transport::client_endpoint("127.0.0.1:0".parse().expect("bind")).expect("endpoint");
        let gate = Arc::new(Semaphore::new(CONCURRENT_HANDSHAKES));
        let started = Instant::now();
        let tasks: Vec<_> = devices
            .into_iter()
            .map(|device| {
                let (endpoint, gate) = (endpoint.clone(), gate.clone());
                tokio::spawn(async move {
                    let permit = gate.acquire_owned().await.expect("gate");
                    let began = Instant::now();
                    let conn = connect(&endpoint, &device.identity, at).await;
                    let connected = began.elapsed();
                    let mut storage = MemoryJournals::default();
                    session(&conn, &mut storage, vec![device.centre], |_| false).await;
                    let synced = began.elapsed() - connected;
                    drop(permit);
                    (device, conn, storage, (connected, synced))
                })
            })
            .collect();
        let mut connected = Vec::new();
        let (mut handshakes, mut sessions) = (Vec::new(), Vec::new());
        for task in tasks {
            let (device, conn, storage, (handshake, session)) = task.await.expect("device task");
            handshakes.push(handshake);
            sessions.push(session);
            connected.push((device, conn, storage));
        }
        let took = started.elapsed();
        println!(
            "per device: handshake p50 {:.0} ms, p99 {:.0} ms; first session p50 {:.0} ms, p99 {:.0} ms",
            ms(percentile(&mut handshakes, 50)),
            ms(percentile(&mut handshakes, 99)),
            ms(percentile(&mut sessions, 50)),
            ms(percentile(&mut sessions, 99)),
        );
        let (now_rss, peak_rss) = relay.memory_kib();
        println!(
            "{} devices connected and synced in {:.1} s (relay CPU {:.1} s); relay memory {:.0} MB \
             now, peak {:.0} MB (idle before: {:.0} MB)",
            connected.len(),
            took.as_secs_f64(),
            relay.cpu().as_secs_f64(),
            now_rss as f64 / 1024.0,
            peak_rss as f64 / 1024.0,
            idle_rss as f64 / 1024.0,
        );
        println!(
            "per connected device: {:.1} KiB",
            now_rss.saturating_sub(idle_rss) as f64 / connected.len() as f64
        );

        // Some of them record an activity each, then all sync at the same
        // moment; the others stay connected meanwhile.
        let _others = connected.split_off(busy);
        for (i, (device, _, storage)) in connected.iter_mut().enumerate() {
            let doc = storage
                .doc(device.centre)
                .fork()
                .with_actor(automerge::ActorId::from(device.id.as_bytes()));
            let mut journal = Journal::from_doc(doc).expect("journal");
            let changes = record(&mut journal, 1, i);
            storage.record_local(device.centre, changes[0].hash());
            storage
                .doc(device.centre)
                .apply_changes(changes)
                .expect("apply");
        }
        let cpu_before = relay.cpu();
        let started = Instant::now();
        let tasks: Vec<_> = connected
            .into_iter()
            .map(|(device, conn, mut storage)| {
                tokio::spawn(async move {
                    let timed = session(&conn, &mut storage, vec![device.centre], |_| false).await;
                    (timed.total, conn)
                })
            })
            .collect();
        let mut times: Vec<Duration> = Vec::new();
        let mut held = Vec::new();
        for task in tasks {
            let (time, conn) = task.await.expect("busy device");
            times.push(time);
            held.push(conn);
        }
        let (_, peak_rss) = relay.memory_kib();
        println!(
            "{busy} devices with a new activity syncing at once: all done in {:.1} s (relay CPU \
             {:.1} s); per device p50 {:.0} ms, p99 {:.0} ms; relay peak memory {:.0} MB",
            started.elapsed().as_secs_f64(),
            (relay.cpu() - cpu_before).as_secs_f64(),
            ms(percentile(&mut times, 50)),
            ms(percentile(&mut times, 99)),
            peak_rss as f64 / 1024.0,
        );
    });
}
