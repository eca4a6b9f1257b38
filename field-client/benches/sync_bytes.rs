//! Bytes on the wire and sync time, measured at the UDP socket.
//!
//! `cargo bench -p field-client --bench sync_bytes [-- bytes|rural|ten|files]` (all when none is named)
//!
//! 1. A device holding a 5,000-activity journal, fully synced, records N new
//!    activities (one change each, as a volunteer would) and runs
//!    `field-client sync`; a UDP forwarder between it and the relay counts every
//!    datagram both ways. Reported next to the zstd-compressed JSON of the same
//!    N records, with and without the QUIC/TLS connection setup (measured by a
//!    connection that syncs nothing). Then the same on a connection kept open
//!    (one session per row), and through the `run` daemon (activities recorded
//!    by another process, sent by the daemon's open session).
//! 2. Through the link emulator (tests/src/link.rs) at 384 kbit/s, 300 ms round
//!    trip and 5 % loss: median wall time of a cold `sync` of N new activities
//!    against the lower bound (zstd JSON at the link's bandwidth + one round trip
//!    per protocol exchange: 3) and against the stricter floor of the round trips
//!    the protocol cannot avoid (2, as `Open` travels with `Hello`).
//! 3. Ten devices sync 100 new activities each, at once, over loopback.
//! 4. (`files`) A 2 MB photo attached to a new activity, sent by `sync`
//!    through the same rural link: median wall time against its lower bound
//!    (the photo and the record at the link's bandwidth + three round trips).

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use chrono::Utc;
use field_client::interchange::export::{ActivityRow, write_json};
use field_client::net;
use field_client::owner::StoreOwner;
use relay::enrol_code::EnrolCode;
use relay::registry::Registry;
use relay::server::{RELAY_IDENTITY_STEM, Relay};
use relay::tls::Identity;
use sync_core::{ActivityId, ActivityInput, ActivityPatch, NewStore, Replica};
use tokio::net::UdpSocket;

/// Size of the journal the relay already holds.
const BASE_ACTIVITIES: usize = 5_000;

#[derive(Default)]
struct Counters {
    up: AtomicU64,
    down: AtomicU64,
}

impl Counters {
    fn take(&self) -> (u64, u64) {
        (
            self.up.swap(0, Ordering::SeqCst),
            self.down.swap(0, Ordering::SeqCst),
        )
    }
}

/// Forwards UDP datagrams between one client and the relay, counting payload bytes.
async fn counting_forwarder(relay: SocketAddr, counters: Arc<Counters>) -> SocketAddr {
    let front = UdpSocket::bind("127.0.0.1:0")
        .await
        .expect("bind forwarder");
    let back = UdpSocket::bind("127.0.0.1:0")
        .await
        .expect("bind forwarder");
    back.connect(relay).await.expect("connect to relay");
    let addr = front.local_addr().expect("forwarder address");
    let (front, back) = (Arc::new(front), Arc::new(back));
    let client: Arc<tokio::sync::Mutex<Option<SocketAddr>>> = Arc::default();
    {
        let (front, back, client, counters) = (
            front.clone(),
            back.clone(),
            client.clone(),
            counters.clone(),
        );
        tokio::spawn(async move {
            let mut buf = vec![0_u8; 65_536];
            while let Ok((n, from)) = front.recv_from(&mut buf).await {
                *client.lock().await = Some(from);
                counters.up.fetch_add(n as u64, Ordering::SeqCst);
                let _ = back.send(&buf[..n]).await;
            }
        });
    }
    tokio::spawn(async move {
        let mut buf = vec![0_u8; 65_536];
        while let Ok(n) = back.recv(&mut buf).await {
            counters.down.fetch_add(n as u64, Ordering::SeqCst);
            if let Some(to) = *client.lock().await {
                let _ = front.send_to(&buf[..n], to).await;
            }
        }
    });
    addr
}

fn activity(i: usize) -> ActivityPatch {
    let groups = [
        "teachers",
        "children_and_youth",
        "parents",
        "municipal_staff",
        "volunteers",
    ];
    ActivityInput {
        title: Some(format!("Seminārs skolotājiem \"Skolas un ģimenes sadarbība\" nr. {i}")),
        kind: Some(["seminar", "workshop", "training", "event"][i % 4].into()),
        date: Some(format!("2026-{:02}-{:02}", 1 + i % 12, 1 + i % 28)),
        start: Some(format!("{:02}:{:02}", 9 + i % 9, (i % 4) * 15)),
        hours: Some(format!("{}", 1 + i % 6)),
        place: Some("Daugavpils, Smilšu iela 92, BJC \"Mezgls\"".into()),
        organisers: Some(vec!["Inese Kalniņa".into(), format!("Jānis Ozoliņš {}", i % 7)]),
        institutions: Some(vec![format!("{}.PII", i % 30), format!("{}.vsk", i % 17), "Daugavpils pilsētas Izglītības pārvalde".into()]),
        counts: groups.iter().take(2 + i % 4).enumerate().map(|(g, name)| ((*name).into(), format!("{}", (i * (g + 3)) % 40))).collect(),
        description: Some(format!("Dalībnieki apsprieda skolas un ģimenes sadarbības formas, dalījās pieredzē un izstrādāja kopīgu rīcības plānu nākamajam mācību gadam. Sesija {i}.")),
        notes: Some("Atsauksmes pozitīvas; nākamā tikšanās paredzēta pēc mēneša.".into()),
    }
    .parse()
    .expect("bench activity is valid")
}

struct Setup {
    relay_dir: std::path::PathBuf,
    relay_addr: SocketAddr,
}

fn code_for(setup: &Setup, registry_secret: [u8; 32], address: String) -> String {
    let identity = Identity::load(&setup.relay_dir, RELAY_IDENTITY_STEM).expect("relay identity");
    EnrolCode {
        relay: address,
        fingerprint: identity.fingerprint(),
        secret: registry_secret,
    }
    .encode()
    .expect("code")
}

async fn device(dir: &Path, code: &str, base: usize) -> Replica {
    std::fs::create_dir_all(dir).expect("device dir");
    let mut replica = Replica::create(
        &dir.join("journal.redb"),
        NewStore {
            centre: "bench",
            device_name: "bench",
        },
    )
    .expect("store");
    let items: Vec<_> = (0..base)
        .map(|i| (ActivityId::new_random(), activity(i)))
        .collect();
    replica.import(items, Utc::now()).expect("import");
    net::enrol(dir, &mut replica, code).await.expect("enrol");
    net::sync(dir, &mut replica, net::Mode::Once)
        .await
        .expect("first sync");
    replica
}

/// Records `n` new activities (bench activity numbers from `first`), one
/// durable add each, as a volunteer would.
fn record(replica: &mut Replica, n: usize, first: usize) -> Vec<ActivityId> {
    (0..n)
        .map(|i| {
            replica
                .add(ActivityId::new_random(), &activity(first + i), Utc::now())
                .expect("add")
        })
        .collect()
}

fn zstd_json(replica: &mut Replica, ids: &[ActivityId]) -> usize {
    let activities: Vec<_> = ids
        .iter()
        .map(|id| replica.get(*id).expect("read").expect("present"))
        .collect();
    let mut json = Vec::new();
    write_json(
        &mut json,
        activities.iter().map(|a| ActivityRow {
            centre: "bench",
            activity: a,
        }),
    )
    .expect("json");
    zstd::bulk::compress(&json, 3).expect("zstd").len()
}

async fn bytes_benchmark(setup: &Setup, secrets: &mut Vec<[u8; 32]>) {
    let counters = Arc::new(Counters::default());
    let proxy = counting_forwarder(setup.relay_addr, counters.clone()).await;
    let dir = setup
        .relay_dir
        .parent()
        .expect("parent")
        .join("bytes-device");
    let code = code_for(setup, secrets.pop().expect("secret"), proxy.to_string());
    let mut replica = device(&dir, &code, BASE_ACTIVITIES).await;
    // Connection setup alone: a sync with nothing to move.
    counters.take();
    net::sync(&dir, &mut replica, net::Mode::Once)
        .await
        .expect("empty sync");
    let (setup_up, setup_down) = counters.take();
    println!(
        "\nBytes on the wire (UDP payload) to sync N new activities to a relay holding {BASE_ACTIVITIES}:"
    );
    println!(
        "empty sync (QUIC+TLS handshake, Hello/Welcome, Open/Heads, close): {setup_up} B up, {setup_down} B down"
    );
    println!(
        "{:>6} {:>10} {:>10} {:>10} {:>12} {:>8} {:>16}",
        "N", "up B", "down B", "total B", "zstd JSON B", "ratio", "ratio w/o setup"
    );
    for n in [1_usize, 100, 1_000] {
        let ids = record(&mut replica, n, 100_000);
        counters.take();
        net::sync(&dir, &mut replica, net::Mode::Once)
            .await
            .expect("sync");
        let (up, down) = counters.take();
        let baseline = zstd_json(&mut replica, &ids) as f64;
        let total = (up + down) as f64;
        let without = total - (setup_up + setup_down) as f64;
        println!(
            "{n:>6} {up:>10} {down:>10} {:>10} {:>12} {:>8.2} {:>16.2}",
            up + down,
            baseline as u64,
            total / baseline,
            without / baseline
        );
    }
    warm_connection_rows(&dir, &mut replica, &counters).await;
    drop(replica);
    daemon_rows(&dir, &counters).await;
}

/// Longest wait for the daemon to send what was recorded.
const DAEMON_SEND_TIMEOUT: Duration = Duration::from_secs(60);

/// What a volunteer's machine really does: `field-client run` keeps its session
/// open; activities are recorded by another process (as `field-client add`
/// does); the daemon notices, debounces and sends them. Bytes from the add
/// until the relay acknowledged everything.
async fn daemon_rows(dir: &Path, counters: &Counters) {
    let owner = StoreOwner::open(&dir.join("journal.redb")).expect("open the store");
    let daemon = tokio::spawn({
        let (dir, owner) = (dir.to_owned(), owner.clone());
        async move { field_client::daemon::run(&dir, &owner).await }
    });
    wait_until_sent(&owner).await;
    println!(
        "
Through `field-client run` (one session kept open; recorded as the app does):"
    );
    println!(
        "{:>6} {:>10} {:>10} {:>10} {:>12} {:>8}",
        "N", "up B", "down B", "total B", "zstd JSON B", "ratio"
    );
    for n in [1_usize, 100, 1_000] {
        // Let any round the previous row's status reads caused finish first.
        tokio::time::sleep(Duration::from_secs(6)).await;
        counters.take();
        let ids: Vec<ActivityId> = {
            let mut replica = owner.hold().await.expect("the store");
            record(&mut replica, n, 300_000)
        };
        owner.note_local_change();
        wait_until_sent(&owner).await;
        let (up, down) = counters.take();
        let mut replica = owner.hold().await.expect("the store");
        let baseline = zstd_json(&mut replica, &ids) as f64;
        drop(replica);
        println!(
            "{n:>6} {up:>10} {down:>10} {:>10} {:>12} {:>8.2}",
            up + down,
            baseline as u64,
            (up + down) as f64 / baseline
        );
    }
    daemon.abort();
}

/// Waits until the store says nothing is left to send.
async fn wait_until_sent(owner: &StoreOwner) {
    let deadline = Instant::now() + DAEMON_SEND_TIMEOUT;
    loop {
        assert!(
            Instant::now() < deadline,
            "the daemon did not send within {DAEMON_SEND_TIMEOUT:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
        let replica = owner.hold().await.expect("the store");
        if replica.list_view().status().expect("status").unsent == 0 {
            return;
        }
    }
}

/// The daemon's steady state: one connection kept open, a session per round.
/// Bytes of each session alone, measured, not derived.
async fn warm_connection_rows(dir: &Path, replica: &mut Replica, counters: &Counters) {
    let enrolment = net::enrolment(replica.store())
        .expect("enrolment")
        .expect("enrolled");
    let name = replica.store().device_name().to_owned();
    let (_endpoint, conn) = net::connect_enrolled(dir, &name, &enrolment)
        .await
        .expect("connect");
    net::sync_on(&conn, replica, net::Mode::Once)
        .await
        .expect("first session");
    println!(
        "
On a connection kept open (as `field-client run` keeps it), one session per row:"
    );
    println!(
        "{:>6} {:>10} {:>10} {:>10} {:>12} {:>8}",
        "N", "up B", "down B", "total B", "zstd JSON B", "ratio"
    );
    for n in [1_usize, 100, 1_000] {
        let ids = record(replica, n, 200_000);
        counters.take();
        net::sync_on(&conn, replica, net::Mode::Once)
            .await
            .expect("sync");
        let (up, down) = counters.take();
        let baseline = zstd_json(replica, &ids) as f64;
        println!(
            "{n:>6} {up:>10} {down:>10} {:>10} {:>12} {:>8.2}",
            up + down,
            baseline as u64,
            (up + down) as f64 / baseline
        );
    }
    conn.close(0u32.into(), b"done");
}

async fn ten_devices_benchmark(setup: &Setup, secrets: &mut Vec<[u8; 32]>) {
    let mut devices = Vec::new();
    for d in 0..10 {
        let dir = setup
            .relay_dir
            .parent()
            .expect("parent")
            .join(format!("device-{d}"));
        let code = code_for(
            setup,
            secrets.pop().expect("secret"),
            setup.relay_addr.to_string(),
        );
        let mut replica = device(&dir, &code, 0).await;
        for i in 0..100 {
            replica
                .add(
                    ActivityId::new_random(),
                    &activity(d * 1000 + i),
                    Utc::now(),
                )
                .expect("add");
        }
        devices.push((dir, replica));
    }
    let started = Instant::now();
    let tasks: Vec<_> = devices
        .into_iter()
        .map(|(dir, mut replica)| {
            tokio::spawn(async move {
                net::sync(&dir, &mut replica, net::Mode::Once)
                    .await
                    .expect("sync");
                replica.status().expect("status").unsent
            })
        })
        .collect();
    for task in tasks {
        assert_eq!(task.await.expect("task"), 0, "everything acknowledged");
    }
    println!(
        "\n10 devices × 100 new activities, synced at once over loopback: {:?}",
        started.elapsed()
    );
}

/// The rural link of issue #4: 384 kbit/s, 300 ms round trip, 5 % loss each way.
const RURAL_BYTES_PER_SECOND: u64 = 48_000;
const RURAL_RTT: Duration = Duration::from_millis(300);
const RURAL_LOSS: f64 = 0.05;

/// Protocol exchanges in one cold `sync`, each one round trip in the issue's
/// lower bound: the QUIC+TLS handshake, Hello/Welcome, and one round (Open and
/// the early batch up; Heads, Ack and the end of the download back).
const COLD_SYNC_EXCHANGES: u32 = 3;

/// Round trips one cold `sync` cannot do without: the handshake, then one
/// flight each way, since the client sends Open and its batch right behind
/// Hello. The stricter floor, reported beside the bound.
const COLD_SYNC_ROUND_TRIPS: u32 = 2;

/// Runs per row: at 5 % loss a run that loses a tail packet waits for QUIC's
/// probe timeout (about three round trips), so single runs vary from 1× to 3×;
/// 21 runs make the median stable to within about a tenth.
const RURAL_RUNS: usize = 21;

/// A device enrolled through a link emulator with the rural link's
/// impairments (loss seeded by `seed`), in the folder `name`.
async fn rural_device(
    setup: &Setup,
    secrets: &mut Vec<[u8; 32]>,
    name: &str,
    seed: u64,
) -> (tests::link::LinkEmulator, std::path::PathBuf, Replica) {
    let rural = tests::link::Impairments::rural(RURAL_BYTES_PER_SECOND, RURAL_RTT, RURAL_LOSS);
    let link = tests::link::LinkEmulator::start(setup.relay_addr, rural.clone(), rural, seed);
    let dir = setup.relay_dir.parent().expect("parent").join(name);
    let code = code_for(
        setup,
        secrets.pop().expect("secret"),
        link.addr().to_string(),
    );
    let replica = device(&dir, &code, 0).await;
    (link, dir, replica)
}

/// Syncs N new activities through the link emulator and compares the wall time
/// with the physical lower bound: the zstd-compressed new records at the link's
/// bandwidth, plus one round trip per protocol exchange.
async fn rural_link_benchmark(setup: &Setup, secrets: &mut Vec<[u8; 32]>) {
    let (link, dir, mut replica) = rural_device(setup, secrets, "rural-device", 42).await;
    println!(
        "\nThrough the link emulator: {} kbit/s, {} ms round trip, {:.0} % loss each way \
         (`sync` from a cold start):",
        RURAL_BYTES_PER_SECOND * 8 / 1000,
        RURAL_RTT.as_millis(),
        RURAL_LOSS * 100.0
    );
    println!(
        "{:>6} {:>22} {:>10} {:>12} {:>18} {:>18}",
        "N", "wall: median (range)", "wire B", "zstd JSON B", "bound (3 RTT)", "floor (2 RTT)"
    );
    for n in [100_usize, 1_000] {
        let mut walls = Vec::new();
        let (mut wire, mut baseline) = (0, 0);
        for run in 0..RURAL_RUNS {
            let ids = record(&mut replica, n, 400_000 + run * n);
            let before = wire_bytes(&link);
            let started = Instant::now();
            net::sync(&dir, &mut replica, net::Mode::Once)
                .await
                .expect("sync over the rural link");
            walls.push(started.elapsed().as_secs_f64());
            wire = wire_bytes(&link) - before;
            baseline = zstd_json(&mut replica, &ids);
        }
        walls.sort_by(f64::total_cmp);
        let median = walls[walls.len() / 2];
        let transfer = baseline as f64 / RURAL_BYTES_PER_SECOND as f64;
        let against = |round_trips: u32| {
            let limit = transfer + (RURAL_RTT * round_trips).as_secs_f64();
            format!("{limit:.2} s = {:.2}×", median / limit)
        };
        println!(
            "{n:>6} {:>22} {wire:>10} {baseline:>12} {:>18} {:>18}",
            format!(
                "{median:.2} s ({:.2}–{:.2})",
                walls[0],
                walls[walls.len() - 1]
            ),
            against(COLD_SYNC_EXCHANGES),
            against(COLD_SYNC_ROUND_TRIPS),
        );
    }
}

/// Runs of the file row: each moves 2 MB at 384 kbit/s (about 45 s).
const FILE_RUNS: usize = 5;

/// Bytes of the photo the file row sends: a phone photo at a reduced size.
const PHOTO_BYTES: usize = 2_000_000;

/// A 2 MB photo through the rural link: wall time of the `sync` that sends
/// its record and then the photo, against the lower bound.
async fn file_benchmark(setup: &Setup, secrets: &mut Vec<[u8; 32]>) {
    let (link, dir, mut replica) = rural_device(setup, secrets, "file-device", 43).await;
    println!(
        "\nA {} MB photo through the link emulator ({} kbit/s, {} ms, {:.0} % loss), `sync` \
         of its record and the photo:",
        PHOTO_BYTES / 1_000_000,
        RURAL_BYTES_PER_SECOND * 8 / 1000,
        RURAL_RTT.as_millis(),
        RURAL_LOSS * 100.0
    );
    let mut walls = Vec::new();
    let mut wire = 0;
    for run in 0..FILE_RUNS {
        let ids = record(&mut replica, 1, 900_000 + run);
        let photo = tests::sample_files::jpeg(PHOTO_BYTES, run as u64);
        replica
            .attach_file(ids[0], std::io::Cursor::new(&photo), "foto.jpg", Utc::now())
            .expect("attach");
        let before = wire_bytes(&link);
        let started = Instant::now();
        net::sync(&dir, &mut replica, net::Mode::Once)
            .await
            .expect("sync over the rural link");
        walls.push(started.elapsed().as_secs_f64());
        wire = wire_bytes(&link) - before;
        let waiting = replica
            .store()
            .files_to_send(replica.journal_id())
            .expect("queue");
        assert!(waiting.is_empty(), "the photo was not sent");
    }
    walls.sort_by(f64::total_cmp);
    let median = walls[walls.len() / 2];
    let bound = PHOTO_BYTES as f64 / RURAL_BYTES_PER_SECOND as f64
        + (RURAL_RTT * COLD_SYNC_EXCHANGES).as_secs_f64();
    println!(
        "{:>22} {:>12} {:>22}",
        "wall: median (range)", "wire B", "bound (photo + 3 RTT)"
    );
    println!(
        "{:>22} {wire:>12} {:>22}",
        format!(
            "{median:.1} s ({:.1}–{:.1})",
            walls[0],
            walls[walls.len() - 1]
        ),
        format!("{bound:.1} s = {:.2}×", median / bound),
    );
}

fn wire_bytes(link: &tests::link::LinkEmulator) -> u64 {
    use std::sync::atomic::Ordering::Relaxed;
    link.counters.up_bytes.load(Relaxed) + link.counters.down_bytes.load(Relaxed)
}

/// Whether to run the benchmark `name`: every one, unless names are given
/// (`cargo bench -p field-client --bench sync_bytes -- rural`).
fn wanted(name: &str) -> bool {
    let names: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    names.is_empty() || names.iter().any(|n| n == name)
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let tmp = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).expect("temp dir");
        let relay_dir = tmp.path().join("relay");
        Identity::load_or_create(&relay_dir, RELAY_IDENTITY_STEM, "krc-relay")
            .expect("relay identity");
        let registry = Registry::open(&relay_dir).expect("registry");
        let until = Utc::now() + chrono::Duration::hours(1);
        // One centre per device: ten centres syncing at once, plus the bytes
        // device's and the rural-link device's.
        let mut secrets: Vec<[u8; 32]> = (0..13)
            .map(|i| {
                let centre = registry
                    .add_centre(&format!("Bench KRC {i}"), Utc::now())
                    .expect("centre");
                registry
                    .new_enrol_secret(Some(centre.id), until)
                    .expect("secret")
            })
            .collect();
        drop(registry);
        let relay = Relay::bind(&relay_dir, "127.0.0.1:0".parse().expect("addr")).expect("relay");
        let setup = Setup {
            relay_addr: relay.local_addr().expect("addr"),
            relay_dir,
        };
        let stop = relay.stopper();
        let server = tokio::spawn(relay.serve());
        if wanted("bytes") {
            bytes_benchmark(&setup, &mut secrets).await;
        }
        if wanted("rural") {
            rural_link_benchmark(&setup, &mut secrets).await;
        }
        if wanted("ten") {
            ten_devices_benchmark(&setup, &mut secrets).await;
        }
        if wanted("files") {
            file_benchmark(&setup, &mut secrets).await;
        }
        let _ = stop.send(true);
        let _ = server.await;
    });
}
