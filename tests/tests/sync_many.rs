//! Many devices syncing at the same moment against a real relay process.
//!
//! Fifty devices of one centre: fifty real `field-client sync` processes
//! started together (each one's store of changes makes the relay notify the
//! other forty-nine). Five hundred devices of ten centres: one test process
//! driving five hundred devices through the field-client library (each with
//! its own data folder, store, key and QUIC connection), because five hundred
//! debug processes at about 18 MB each would hold some 9 GB at once on a
//! 2-core CI machine (docs/TESTING.md).

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use field_client::net;
use relay::enrol_code::EnrolCode;
use relay::registry::RegistryAdmin;
use relay::server::RELAY_IDENTITY_STEM;
use relay::tls::Identity;
use sync_core::{ActivityId, ActivityInput, NewStore, Replica};
use tests::{COMMAND_TIMEOUT, Cli, Run, STORE_FILE};
use uuid::Uuid;

use common::{Relay, by_id, device, enrol, sent_received, sync_ok, unsent};

/// Devices of the centre in the fifty-device test.
const FIFTY: usize = 50;
/// Activities each of them records before the syncs.
const RECORDS_EACH: usize = 3;

/// Threads preparing the fifty devices (init, add, enrol are processes).
const PREPARING_THREADS: usize = 4;

/// Prepares `n` devices of `centre` on a few threads: each one `init`, its
/// `records` and `enrol` with its code. Returns each device and its ids.
fn prepare_devices(
    centre: &str,
    codes: Vec<String>,
    records: usize,
) -> Vec<(Cli, BTreeSet<String>)> {
    let n = codes.len();
    let chunk = n.div_ceil(PREPARING_THREADS);
    std::thread::scope(|scope| {
        let workers: Vec<_> = codes
            .chunks(chunk)
            .enumerate()
            .map(|(part, codes)| {
                scope.spawn(move || {
                    codes
                        .iter()
                        .enumerate()
                        .map(|(k, code)| {
                            let i = part * chunk + k;
                            let cli = device(centre, &format!("{centre} dators nr. {i}"));
                            let ids = (0..records)
                                .map(|r| {
                                    cli.add([
                                        "--title",
                                        &format!("Ģimeņu darbnīca {i}.{r} — čaklās rokas"),
                                        "--kind",
                                        "seminārs",
                                        "--date",
                                        &format!("2026-0{}-{:02}", 1 + r % 9, 1 + i % 28),
                                        "--count",
                                        &format!("vecāki={}", i + r),
                                    ])
                                })
                                .collect();
                            enrol(&cli, code);
                            (cli, ids)
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|w| w.join().expect("a preparing thread panicked"))
            .collect()
    })
}

/// Starts `field-client sync` on every device at the same moment, waits for
/// all (each bounded by [`COMMAND_TIMEOUT`] from the start) and asserts that
/// every one exited 0; returns their runs.
fn sync_all_at_once(devices: &[(Cli, BTreeSet<String>)], what: &str) -> Vec<Run> {
    let started = Instant::now();
    let running: Vec<_> = devices.iter().map(|(cli, _)| cli.spawn(["sync"])).collect();
    let deadline = started + COMMAND_TIMEOUT;
    let runs: Vec<Run> = running.into_iter().map(|s| s.finish_by(deadline)).collect();
    let failed: Vec<String> = runs
        .iter()
        .enumerate()
        .filter(|(_, run)| run.code != Some(0))
        .map(|(i, run)| format!("device {i} exited {:?}:\n{}", run.code, run.stderr))
        .collect();
    assert!(
        failed.is_empty(),
        "{what}: {} of {} syncs failed:\n{}",
        failed.len(),
        devices.len(),
        failed.join("\n")
    );
    eprintln!(
        "{what}: {} syncs at once took {:.1} s",
        devices.len(),
        started.elapsed().as_secs_f64()
    );
    runs
}

#[test]
fn fifty_devices_of_one_centre_sync_at_the_same_moment_and_all_succeed() {
    let relay = Relay::start();
    let name = "Rēzeknes KRC";
    let centre = relay.add_centre(name);
    let codes: Vec<String> = (0..FIFTY).map(|_| relay.centre_code(centre)).collect();
    let devices = prepare_devices(name, codes, RECORDS_EACH);
    let everything: BTreeSet<String> = devices.iter().flat_map(|(_, ids)| ids.clone()).collect();
    assert_eq!(everything.len(), FIFTY * RECORDS_EACH);

    // All fifty at once: each stores its records while the others run, and
    // hears of the others' stores. Every one must say everything was sent.
    let first = sync_all_at_once(&devices, "first syncs");
    for (i, run) in first.iter().enumerate() {
        let (sent, _) = sent_received(&run.stdout);
        assert_eq!(sent, RECORDS_EACH, "device {i} sends its own changes only");
    }

    // Once more, all at once: now every device gets what the others stored
    // after its first download, and sends nothing (not even back what it
    // downloaded: the relay's heads were recorded as acknowledged).
    let second = sync_all_at_once(&devices, "second syncs");
    for (i, run) in second.iter().enumerate() {
        let (sent, _) = sent_received(&run.stdout);
        assert_eq!(sent, 0, "device {i} sends nothing new:\n{}", run.stdout);
    }

    let office = device("Birojs", "Biroja dators");
    enrol(&office, &relay.office_code());
    sync_ok(&office);
    let at_office: BTreeSet<String> = by_id(office.list_json(&["--all-centres"]))
        .into_keys()
        .collect();
    assert_eq!(at_office, everything, "the office holds every record");
    for (i, (cli, _)) in devices.iter().enumerate() {
        let held: BTreeSet<String> = by_id(cli.list_json(&[])).into_keys().collect();
        assert_eq!(held, everything, "device {i} holds every record");
        assert_eq!(unsent(cli), 0, "device {i}: nothing unsent");
    }
    assert!(relay_is_fine(&relay), "the relay panicked");
}

// ---- Five hundred devices in one process ----

/// Ten centres of the five-hundred-device test.
const CENTRES: [&str; 10] = common::LATGALE_CENTRES;
/// Devices of each centre: 500 in all.
const DEVICES_PER_CENTRE: usize = 50;
/// Activities each device records before syncing: 1,000 in all.
const RECORDS_PER_DEVICE: usize = 2;
/// Enrolments running at once (only the syncs must all start together): as
/// many as the relay takes from one address at once (they all come from
/// 127.0.0.1); more would be turned away and wait to try again.
const ENROLMENTS_AT_ONCE: usize = relay::limits::MAX_UNENROLLED_PER_ADDRESS;
/// Longest one device's sync may take here (`field-client sync` allows
/// `net::SYNC_COMMAND_TIMEOUT`, meant for rural links).
const DEVICE_SYNC_LIMIT: Duration = Duration::from_secs(300);
/// Files this process holds open at the peak of the five-hundred-device test:
/// each device's store and, while it syncs, its UDP socket (measured: 1,211).
/// Many systems start a process with a limit of 1,024.
const OPEN_FILES_NEEDED: u64 = 1_500;
/// Longest the whole five-hundred-device test may take: a hang fails it.
const FIVE_HUNDRED_LIMIT: Duration = Duration::from_secs(600);

/// One device driven through the library: its folder, store and records.
struct Device {
    centre: usize,
    dir: tempfile::TempDir,
    replica: Replica,
    own: BTreeSet<Uuid>,
}

/// A data folder for one simulated device: in memory (`/dev/shm`) where there
/// is one. Five hundred stores committing on the disk the relay commits on
/// would make every relay commit wait behind theirs, which no real device's
/// does; in memory their commits cost nothing and the relay has its disk.
fn device_folder() -> tempfile::TempDir {
    let shm = Path::new("/dev/shm");
    let folder = if shm.is_dir() {
        tempfile::tempdir_in(shm)
    } else {
        tempfile::tempdir()
    };
    folder.expect("cannot create a temporary folder")
}

/// A device of centre `centre` recording `RECORDS_PER_DEVICE` activities.
fn new_device(centre: usize, index: usize) -> Device {
    let dir = device_folder();
    let mut replica = Replica::create(
        &dir.path().join(STORE_FILE),
        NewStore {
            centre: CENTRES[centre],
            device_name: &format!("{} dators {index}", CENTRES[centre]),
        },
    )
    .expect("a new store");
    let own = (0..RECORDS_PER_DEVICE)
        .map(|r| {
            let patch = ActivityInput {
                title: Some(format!("Skolotāja loma kopienā {index}.{r}")),
                kind: Some("workshop".into()),
                date: Some(format!("2026-{:02}-{:02}", 1 + r % 12, 1 + index % 28)),
                counts: vec![("teachers".into(), (index % 40).to_string())],
                ..Default::default()
            }
            .parse()
            .expect("a valid activity");
            replica
                .add(ActivityId::new_random(), &patch, Utc::now())
                .expect("a durable add")
                .0
        })
        .collect();
    Device {
        centre,
        dir,
        replica,
        own,
    }
}

/// Every device's sync, all started at the same moment; each must return Ok.
/// Returns the devices, in order, and what each sync reported.
async fn sync_at_once(devices: Vec<Device>, what: &str) -> Vec<(Device, net::SyncReport)> {
    let started = Instant::now();
    let go = Arc::new(tokio::sync::Barrier::new(devices.len() + 1));
    let mut tasks = tokio::task::JoinSet::new();
    for (i, mut device) in devices.into_iter().enumerate() {
        let go = go.clone();
        tasks.spawn(async move {
            go.wait().await;
            let sync = net::sync(device.dir.path(), &mut device.replica, net::Mode::Once);
            let outcome = match tokio::time::timeout(DEVICE_SYNC_LIMIT, sync).await {
                Ok(outcome) => outcome.map_err(|e| format!("{e:#}")),
                Err(_) => Err(format!("still running after {DEVICE_SYNC_LIMIT:?}")),
            };
            let outcome = outcome.map_err(|e| {
                let after = started.elapsed().as_secs_f64();
                format!("{e} ({after:.1} s after the start)")
            });
            (i, device, outcome)
        });
    }
    go.wait().await;
    let mut done = Vec::new();
    let mut failed = Vec::new();
    while let Some(joined) = tasks.join_next().await {
        let (i, device, outcome) = joined.expect("a device's task panicked");
        match outcome {
            Ok(report) => done.push((i, device, report)),
            Err(e) => failed.push(format!("device {i}: {e}")),
        }
    }
    assert!(
        failed.is_empty(),
        "{what}: {} of {} syncs failed:\n{}",
        failed.len(),
        done.len() + failed.len(),
        failed.join("\n")
    );
    eprintln!(
        "{what}: {} syncs at once took {:.1} s",
        done.len(),
        started.elapsed().as_secs_f64()
    );
    done.sort_by_key(|(i, _, _)| *i);
    done.into_iter().map(|(_, d, report)| (d, report)).collect()
}

/// Enrols every device, `ENROLMENTS_AT_ONCE` at a time.
async fn enrol_all(devices: Vec<Device>, codes: Vec<String>) -> Vec<Device> {
    let limit = Arc::new(tokio::sync::Semaphore::new(ENROLMENTS_AT_ONCE));
    let mut tasks = tokio::task::JoinSet::new();
    for (i, (mut device, code)) in devices.into_iter().zip(codes).enumerate() {
        let limit = limit.clone();
        tasks.spawn(async move {
            let _permit = limit.acquire().await.expect("the semaphore stays open");
            net::enrol(device.dir.path(), &mut device.replica, &code)
                .await
                .unwrap_or_else(|e| panic!("device {i} did not enrol: {e}"));
            (i, device)
        });
    }
    let mut enrolled = Vec::new();
    while let Some(joined) = tasks.join_next().await {
        enrolled.push(joined.expect("an enrolment panicked"));
    }
    enrolled.sort_by_key(|(i, _)| *i);
    enrolled.into_iter().map(|(_, d)| d).collect()
}

/// The ids of every activity `replica` holds, by centre name.
fn held_by_centre(replica: &mut Replica) -> BTreeMap<String, BTreeSet<Uuid>> {
    let mut held: BTreeMap<String, BTreeSet<Uuid>> = BTreeMap::new();
    for (info, activity) in replica.all_activities().expect("activities") {
        held.entry(info.centre).or_default().insert(activity.id.0);
    }
    held
}

/// Peak memory of this process, from the kernel (`VmHWM`), for the record.
fn peak_rss() -> String {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .map(|l| l["VmHWM:".len()..].trim().to_owned())
        })
        .unwrap_or_else(|| "unknown".into())
}

/// An enrolment code made in this process: the registry is opened by the
/// relay and its admin commands alike (redb's multi-writer mode), and the
/// code carries the relay's address and key as `relay enrol-code` prints it.
fn enrolment_code(registry: &dyn RegistryAdmin, relay: &Relay, centre: Option<Uuid>) -> String {
    let identity = Identity::load(relay.data_dir(), RELAY_IDENTITY_STEM).expect("the relay's key");
    let until = Utc::now() + chrono::Duration::hours(1);
    EnrolCode {
        relay: relay.addr().to_string(),
        fingerprint: identity.fingerprint(),
        secret: registry
            .new_enrol_secret(centre, until)
            .expect("an enrolment secret"),
    }
    .encode()
    .expect("an enrolment code")
}

/// The five hundred devices' story, on a runtime of its own.
fn five_hundred_devices(codes: Vec<(usize, String)>, office_code: String) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a runtime");
    runtime.block_on(async {
        let started = Instant::now();
        let (centres, codes): (Vec<usize>, Vec<String>) = codes.into_iter().unzip();
        let devices: Vec<Device> = centres
            .iter()
            .enumerate()
            .map(|(i, &c)| new_device(c, i))
            .collect();
        let devices = enrol_all(devices, codes).await;
        eprintln!(
            "500 devices created and enrolled in {:.1} s",
            started.elapsed().as_secs_f64()
        );
        let mut expected: BTreeMap<String, BTreeSet<Uuid>> = BTreeMap::new();
        for d in &devices {
            expected
                .entry(CENTRES[d.centre].to_owned())
                .or_default()
                .extend(&d.own);
        }

        let first = sync_at_once(devices, "first syncs").await;
        for (i, (_, report)) in first.iter().enumerate() {
            assert_eq!(
                report.uploaded, RECORDS_PER_DEVICE,
                "device {i} sends its own"
            );
        }
        let devices = first.into_iter().map(|(d, _)| d).collect();
        // What others stored after a device's download comes with its next
        // sync: all five hundred again, at once.
        let second = sync_at_once(devices, "second syncs").await;
        for (i, (_, report)) in second.iter().enumerate() {
            assert_eq!(report.uploaded, 0, "device {i} sends nothing new");
        }

        let office_dir = tempfile::tempdir().expect("a temporary folder");
        let mut office = Replica::create(
            &office_dir.path().join(STORE_FILE),
            NewStore {
                centre: "(enrolling)",
                device_name: "Biroja dators",
            },
        )
        .expect("the office's store");
        net::enrol(office_dir.path(), &mut office, &office_code)
            .await
            .expect("the office enrols");
        net::sync(office_dir.path(), &mut office, net::Mode::Once)
            .await
            .expect("the office syncs");
        let mut at_office = held_by_centre(&mut office);
        at_office.retain(|_, ids| !ids.is_empty());
        assert_eq!(
            at_office, expected,
            "the office holds every centre's records"
        );

        for (i, (mut d, _)) in second.into_iter().enumerate() {
            let centre = CENTRES[d.centre];
            let held = held_by_centre(&mut d.replica);
            assert_eq!(
                held.get(centre),
                expected.get(centre),
                "device {i} holds all of {centre}'s records"
            );
            assert_eq!(held.len(), 1, "device {i} holds only its centre's journal");
            let status = d.replica.status().expect("status");
            assert_eq!(status.unsent, 0, "device {i}: nothing unsent");
        }
        eprintln!(
            "500 devices: {:.1} s in all; peak memory of this process {}",
            started.elapsed().as_secs_f64(),
            peak_rss()
        );
    });
}

/// Raises this process's soft limit of open files to [`OPEN_FILES_NEEDED`]
/// (never above the hard limit, which an unprivileged process may not pass);
/// fails plainly when the hard limit is lower.
#[cfg(unix)]
fn allow_open_files() {
    use rustix::process::{Resource, getrlimit, setrlimit};
    let limit = getrlimit(Resource::Nofile);
    if limit.current.is_none_or(|soft| soft >= OPEN_FILES_NEEDED) {
        return;
    }
    let mut raised = limit;
    raised.current = Some(match limit.maximum {
        Some(hard) => hard.min(OPEN_FILES_NEEDED),
        None => OPEN_FILES_NEEDED,
    });
    setrlimit(Resource::Nofile, raised).expect("raising the soft limit of open files");
    let now = getrlimit(Resource::Nofile).current;
    assert!(
        now.is_none_or(|soft| soft >= OPEN_FILES_NEEDED),
        "500 devices need {OPEN_FILES_NEEDED} open files; this process may open {now:?} \
         (raise the hard limit: `ulimit -Hn`)"
    );
}

/// Windows has no soft limit of open files to raise (its handle limit is
/// far above what the test holds).
#[cfg(not(unix))]
fn allow_open_files() {}

#[test]
fn five_hundred_devices_of_ten_centres_sync_at_once_and_every_centre_converges() {
    allow_open_files();
    let relay = Relay::start();
    let registry = relay.registry();
    let mut codes = Vec::new();
    for (c, name) in CENTRES.iter().enumerate() {
        let centre = registry.add_centre(name, Utc::now()).expect("a centre").id;
        for _ in 0..DEVICES_PER_CENTRE {
            codes.push((c, enrolment_code(&*registry, &relay, Some(centre))));
        }
    }
    let office_code = enrolment_code(&*registry, &relay, None);
    drop(registry);

    // The devices run on a thread of their own, so that a hang anywhere in
    // them fails this test after FIVE_HUNDRED_LIMIT instead of stalling CI
    // (the relay process is stopped when `relay` drops).
    let (done, finished) = std::sync::mpsc::channel();
    let devices = std::thread::spawn(move || {
        five_hundred_devices(codes, office_code);
        let _ = done.send(());
    });
    match finished.recv_timeout(FIVE_HUNDRED_LIMIT) {
        Ok(()) => devices.join().expect("finished"),
        Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {
            if let Err(panic) = devices.join() {
                std::panic::resume_unwind(panic);
            }
        }
        Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
            panic!("500 devices did not finish within {FIVE_HUNDRED_LIMIT:?}")
        }
    }
    assert!(relay_is_fine(&relay), "the relay panicked");
}

/// The relay logged no panic.
fn relay_is_fine(relay: &Relay) -> bool {
    let log = relay.log();
    let panicked = log.iter().any(|l| l.contains("panicked"));
    if panicked {
        eprintln!("relay log:\n{}", log.join("\n"));
    }
    !panicked
}
