//! Issue 17's bench: one redb relay against two relay processes sharing one
//! PostgreSQL database, in the same run, on this machine.
//!
//! `cargo bench -p tests --bench relays [-- DEVICES JOURNAL]` (defaults:
//! 1000 devices, a 10000-activity journal). Needs the tests' PostgreSQL
//! server (`KRC_TEST_POSTGRES`; `.ci/postgres` starts one).
//!
//! 1. DEVICES devices of ten centres (in this process, through the
//!    field-client's own sync code; stores in /dev/shm so that their
//!    commits do not compete with the relay's disk) each record 10
//!    activities and all sync at once; then each records 10 more and all
//!    sync at once again. The time until the last of them is done, for one
//!    redb relay and for two PostgreSQL relays (devices split between them).
//! 2. The first sync of a JOURNAL-activity journal (the `field-client` CLI,
//!    imported and compacted) into a redb relay and into a PostgreSQL one.

use std::path::{Path, PathBuf};
use std::process::Child;
use std::sync::Arc;
use std::time::{Duration, Instant};

mod common;
use chrono::Utc;
use common::{activities_csv, cli, init_centre_device, report, took};
use field_client::net;
use relay::enrol_code::EnrolCode;
use relay::server::RELAY_IDENTITY_STEM;
use relay::store::StoreLocation;
use relay::tls::Identity;
use sync_core::{ActivityId, ActivityInput, NewStore, Replica};
use tests::relay_process;

/// New activities each device records before each of the two rounds.
const ACTIVITIES_EACH: usize = 10;

/// Enrolments at once: a relay takes this many strangers per address.
const ENROLMENTS_AT_ONCE: usize = relay::limits::MAX_UNENROLLED_PER_ADDRESS;

/// Open files the devices need (a store and a connection each, and more).
const OPEN_FILES_NEEDED: u64 = 4_096;

/// Syncs a device tries again after a failure (a connection that timed out
/// while the relay took a thousand at once), and the first wait between.
const MAX_RETRIES: usize = 5;
const RETRY_AFTER: Duration = Duration::from_secs(1);

/// Longest one device's sync may take before the bench fails.
const DEVICE_SYNC_LIMIT: Duration = Duration::from_secs(600);

fn main() {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let devices = args.first().copied().unwrap_or(1_000);
    let journal = args.get(1).copied().unwrap_or(10_000);
    // Fails at once, saying how to get one, without the tests' server.
    tests::postgres::server();
    allow_open_files();
    let fc = tests::field_client_bin();
    let _ = tests::relay_bin();

    println!(
        "{devices} devices of ten centres, {ACTIVITIES_EACH} new activities each, all at once"
    );
    let redb = Deployment::start(1, None);
    fleet(&redb, devices);
    drop(redb);
    let postgres = Deployment::start(2, Some(tests::postgres::fresh_database()));
    fleet(&postgres, devices);
    drop(postgres);

    println!("first sync of a {journal}-activity journal");
    let device = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).expect("a folder");
    let csv = device.path().join("activities.csv");
    std::fs::write(&csv, activities_csv(0, journal)).expect("write the CSV");
    let source = device.path().join("device");
    init_centre_device(&fc, &source);
    cli(&fc, &source, &["import", csv.to_str().expect("UTF-8")]);
    cli(&fc, &source, &["compact"]);
    for store in [None, Some(tests::postgres::fresh_database())] {
        let relay = Deployment::start(1, store);
        let copy = device.path().join(format!("copy-{}", relay.name()));
        copy_dir(&source, &copy);
        let centre = relay.admin(&["centre", "add", "Daugavpils KRC"]);
        let code = relay.admin(&["enrol-code", "--centre", centre.trim()]);
        cli(&fc, &copy, &["enrol", code.trim()]);
        let sync = took(&fc, &copy, &["sync"]);
        report(
            &format!("  {}: first sync of {journal}", relay.name()),
            sync.wall,
            "",
        );
    }
}

/// One or more `relay serve` processes on one store.
struct Deployment {
    store: Option<String>,
    dirs: Vec<tempfile::TempDir>,
    relays: Vec<Child>,
}

impl Deployment {
    /// `count` relays: the first makes the key, the others get a copy.
    fn start(count: usize, store: Option<String>) -> Deployment {
        let mut dirs: Vec<tempfile::TempDir> = Vec::new();
        let mut relays = Vec::new();
        for i in 0..count {
            let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).expect("a folder");
            if i > 0 {
                for file in ["relay.cert.der", "relay.key.der"] {
                    std::fs::copy(dirs[0].path().join(file), dir.path().join(file))
                        .expect("copy the key");
                }
            }
            relays.push(relay_process::spawn_on(dir.path(), store.as_deref()));
            dirs.push(dir);
        }
        Deployment {
            store,
            dirs,
            relays,
        }
    }

    fn name(&self) -> &'static str {
        match (&self.store, self.relays.len()) {
            (None, _) => "one redb relay",
            (Some(_), 1) => "one PostgreSQL relay",
            (Some(_), _) => "two PostgreSQL relays",
        }
    }

    fn admin(&self, args: &[&str]) -> String {
        relay_process::admin_on(self.dirs[0].path(), self.store.as_deref(), args)
    }

    /// A code for a device of `centre` reaching relay `at`.
    fn code(
        &self,
        registry: &dyn relay::registry::RegistryAdmin,
        centre: uuid::Uuid,
        at: usize,
    ) -> String {
        let dir = self.dirs[at].path();
        let identity = Identity::load(dir, RELAY_IDENTITY_STEM).expect("the relay's key");
        let address = std::fs::read_to_string(dir.join(relay::backup::PUBLIC_ADDRESS_FILE))
            .expect("the relay's address");
        EnrolCode {
            relay: address.trim().to_owned(),
            fingerprint: identity.fingerprint(),
            secret: registry
                .new_enrol_secret(Some(centre), Utc::now() + chrono::Duration::hours(2))
                .expect("a secret"),
        }
        .encode()
        .expect("a code")
    }
}

impl Drop for Deployment {
    fn drop(&mut self) {
        for relay in &mut self.relays {
            relay_process::stop(relay);
        }
    }
}

struct Device {
    dir: tempfile::TempDir,
    replica: Replica,
}

/// The two rounds of `devices` devices on `deployment`.
fn fleet(deployment: &Deployment, devices: usize) {
    let location = match &deployment.store {
        Some(url) => StoreLocation::Postgres(url.clone()),
        None => StoreLocation::DataDir,
    };
    let registry = location
        .open_registry(deployment.dirs[0].path())
        .expect("the registry");
    let centres: Vec<uuid::Uuid> = tests::LATGALE_CENTRES
        .iter()
        .map(|name| registry.add_centre(name, Utc::now()).expect("a centre").id)
        .collect();
    let codes: Vec<String> = (0..devices)
        .map(|i| {
            deployment.code(
                &*registry,
                centres[i % centres.len()],
                i % deployment.relays.len(),
            )
        })
        .collect();
    drop(registry);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a runtime");
    runtime.block_on(async {
        let fleet: Vec<Device> = (0..devices).map(|i| new_device(i, 0)).collect();
        let fleet = enrol_all(fleet, codes).await;
        let (mut fleet, first, retried) = sync_at_once(fleet).await;
        report(
            &format!("  {}: first syncs", deployment.name()),
            first,
            &format!("(10 new activities each; {retried} syncs tried again)"),
        );
        for (i, device) in fleet.iter_mut().enumerate() {
            record(&mut device.replica, i, 1);
        }
        let (_, second, retried) = sync_at_once(fleet).await;
        report(
            &format!("  {}: next syncs", deployment.name()),
            second,
            &format!("(10 more each; {retried} syncs tried again)"),
        );
    });
}

/// A device's store in memory (`/dev/shm`) where there is one.
fn new_device(index: usize, round: usize) -> Device {
    let shm = Path::new("/dev/shm");
    let dir = if shm.is_dir() {
        tempfile::tempdir_in(shm)
    } else {
        tempfile::tempdir()
    }
    .expect("a folder");
    let mut replica = Replica::create(
        &dir.path().join(tests::STORE_FILE),
        NewStore {
            centre: "(enrolling)",
            device_name: &format!("dators {index}"),
        },
    )
    .expect("a store");
    record(&mut replica, index, round);
    Device { dir, replica }
}

/// [`ACTIVITIES_EACH`] new activities, each durable.
fn record(replica: &mut Replica, index: usize, round: usize) {
    for r in 0..ACTIVITIES_EACH {
        let patch = ActivityInput {
            title: Some(format!("Kopienas darbnīca {index}.{round}.{r}")),
            kind: Some("workshop".into()),
            date: Some(format!("2026-{:02}-{:02}", 1 + r % 12, 1 + index % 28)),
            counts: vec![("teachers".into(), (index % 40).to_string())],
            ..Default::default()
        }
        .parse()
        .expect("a valid activity");
        replica
            .add(ActivityId::new_random(), &patch, Utc::now())
            .expect("a durable add");
    }
}

async fn enrol_all(devices: Vec<Device>, codes: Vec<String>) -> Vec<Device> {
    let limit = Arc::new(tokio::sync::Semaphore::new(ENROLMENTS_AT_ONCE));
    let mut tasks = tokio::task::JoinSet::new();
    for (i, (mut device, code)) in devices.into_iter().zip(codes).enumerate() {
        let limit = limit.clone();
        tasks.spawn(async move {
            let _permit = limit.acquire().await.expect("open");
            net::enrol(device.dir.path(), &mut device.replica, &code)
                .await
                .unwrap_or_else(|e| panic!("device {i} did not enrol: {e}"));
            (i, device)
        });
    }
    let mut enrolled = Vec::new();
    while let Some(joined) = tasks.join_next().await {
        enrolled.push(joined.expect("an enrolment"));
    }
    enrolled.sort_by_key(|(i, _)| *i);
    enrolled.into_iter().map(|(_, d)| d).collect()
}

/// Every device's sync at the same moment, each tried again (as a device
/// does, after a wait) when it could not connect; the time until the last
/// is done, and how many syncs had to be tried again.
async fn sync_at_once(devices: Vec<Device>) -> (Vec<Device>, Duration, usize) {
    let go = Arc::new(tokio::sync::Barrier::new(devices.len() + 1));
    let mut tasks = tokio::task::JoinSet::new();
    for (i, mut device) in devices.into_iter().enumerate() {
        let go = go.clone();
        tasks.spawn(async move {
            go.wait().await;
            let mut retries = 0;
            loop {
                let sync = net::sync(device.dir.path(), &mut device.replica, net::Mode::Once);
                match tokio::time::timeout(DEVICE_SYNC_LIMIT, sync).await {
                    Ok(Ok(_)) => return (i, device, retries),
                    Ok(Err(e)) if retries < MAX_RETRIES => {
                        eprintln!("device {i}: {e:#}; trying again");
                        retries += 1;
                        tokio::time::sleep(RETRY_AFTER * (1 + (i % 3) as u32)).await;
                    }
                    Ok(Err(e)) => panic!("device {i}: {e:#}"),
                    Err(_) => panic!("device {i}: still syncing after {DEVICE_SYNC_LIMIT:?}"),
                }
            }
        });
    }
    go.wait().await;
    let started = Instant::now();
    let mut done = Vec::new();
    while let Some(joined) = tasks.join_next().await {
        done.push(joined.expect("a device's sync"));
    }
    let took = started.elapsed();
    let retries = done.iter().map(|(_, _, r)| r).sum();
    done.sort_by_key(|(i, _, _)| *i);
    (done.into_iter().map(|(_, d, _)| d).collect(), took, retries)
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("make the copy's folder");
    for entry in std::fs::read_dir(from).expect("read the folder") {
        let path: PathBuf = entry.expect("an entry").path();
        let target = to.join(path.file_name().expect("a name"));
        if path.is_dir() {
            copy_dir(&path, &target);
        } else {
            std::fs::copy(&path, &target).expect("copy a file");
        }
    }
}

/// Raises the soft limit of open files to [`OPEN_FILES_NEEDED`].
#[cfg(unix)]
fn allow_open_files() {
    use rustix::process::{Resource, getrlimit, setrlimit};
    let limit = getrlimit(Resource::Nofile);
    if limit.current.is_none_or(|soft| soft >= OPEN_FILES_NEEDED) {
        return;
    }
    let mut raised = limit;
    raised.current = Some(
        limit
            .maximum
            .map_or(OPEN_FILES_NEEDED, |hard| hard.min(OPEN_FILES_NEEDED)),
    );
    setrlimit(Resource::Nofile, raised).expect("raise the soft limit of open files");
}

#[cfg(not(unix))]
fn allow_open_files() {}
