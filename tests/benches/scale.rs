//! Issue 13's table, end to end: the release `field-client` CLI and a real
//! `relay serve` process on loopback, with a journal of realistic Latvian
//! activities (about 925 bytes of JSON each).
//!
//! `cargo bench -p tests --bench scale [-- SIZE...]` (default: 10000; the
//! issue also asks for 50000). For each SIZE, with SIZE − 100 activities
//! imported first:
//! - import of the CSV (whole process; peak memory sampled from /proc, Linux),
//!   then apart the compaction `field-client run` does once the store is
//!   quiet (`field-client compact`);
//! - the device's first `sync` (everything up to the relay's durable `Ack`);
//! - `sync` with nothing to do;
//! - 100 `field-client add` processes (each to durable), then one `sync`;
//! - the office's first download of the whole journal, from a relay at rest
//!   (it compacts a journal once quiet: the bench waits until it says so);
//! - the compaction `field-client run` does once the store is quiet, on the
//!   device and at the office (`field-client compact`: neither the import
//!   nor a sync compacts);
//! - bytes per activity of the device's, the relay's and the office's files;
//! - beside a running `field-client run`: `add` processes (they borrow its
//!   store) and the time from starting each until `run` reports the relay's
//!   `Ack` for it.
//!
//! Medians of 3 where a step can be repeated without changing the journal.
//! The import, the compaction, the first sync and the office's download also
//! show CPU time (of the `field-client` process, and the relay's meanwhile;
//! Linux): this machine's speed drifts by a fifth within an hour, and CPU
//! time tells where a change saved work when the wall time cannot.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{Receiver, channel};
use std::time::{Duration, Instant};

mod common;
use common::{
    NOTES, PLACE, Row, Took, activities_csv, cli, cpu_time, field_client, init_centre_device,
    report, sizes_from_args, took,
};

/// Journals from this size on are due a compaction at the relay after the
/// first sync: an import's changes (100 activities each, about 600 bytes
/// per activity) reach `COMPACT_AFTER_BYTES` (1 MiB) from about 1,800
/// activities; below that the relay leaves them appended.
const RELAY_COMPACTS_FROM: usize = 5_000;

/// New activities recorded after the first sync, as in the issue.
const NEW_ACTIVITIES: usize = 100;

/// Adds timed beside a running `field-client run`.
const ADDS_BESIDE_RUN: usize = 20;

/// Longest wait for a process to say what is expected (`run` an `Ack`,
/// the relay a compaction).
const SAY_TIMEOUT: Duration = Duration::from_secs(30);

fn main() {
    let sizes = sizes_from_args(&[10_000]);
    let fc = tests::field_client_bin();
    let relay = tests::relay_bin();
    for size in sizes {
        println!("\n== journal of {size} activities ==");
        run_size(&fc, &relay, size);
    }
}

fn run_size(fc: &Path, relay_bin: &Path, size: usize) {
    let root = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).expect("temp dir");
    let relay = RelayProcess::start(relay_bin, &root.path().join("relay"));
    let centre = relay.admin(&["centre", "add", "Daugavpils KRC"]);
    let device = root.path().join("device");
    let first = size - NEW_ACTIVITIES;
    let csv = root.path().join("activities.csv");
    std::fs::write(&csv, activities_csv(0, first)).expect("write CSV");
    init_centre_device(fc, &device);
    let import = took(fc, &device, &["import", csv.to_str().expect("UTF-8")]);
    report(
        &format!("import {first} CSV rows"),
        import.wall,
        &format!(
            "CPU {:.2} s, peak {:.0} MB",
            import.cpu.as_secs_f64(),
            import.peak as f64 / 1e6
        ),
    );
    // An import does not compact; `run` does once the store is quiet, a
    // couple of seconds later. `compact` does the same work now, as a
    // device that ran `run` would hold its journal when it next syncs.
    let compaction = took(fc, &device, &["compact"]);
    report(
        "  then its compaction at rest",
        compaction.wall,
        &format!(
            "CPU {:.2} s, peak {:.0} MB (what `run` does when quiet)",
            compaction.cpu.as_secs_f64(),
            compaction.peak as f64 / 1e6
        ),
    );
    let code = relay.admin(&["enrol-code", "--centre", centre.trim()]);
    cli(fc, &device, &["enrol", code.trim()]);
    let (sync, cpu) = relay.beside(|| took(fc, &device, &["sync"]));
    report(
        &format!("first sync of {first}"),
        sync.wall,
        &cpu_note(&sync, cpu),
    );
    let idle: Vec<Duration> = (0..3).map(|_| timed(fc, &device, &["sync"])).collect();
    report("sync with nothing to do", median(idle), "");
    let adds: Vec<Duration> = (0..NEW_ACTIVITIES)
        .map(|i| timed(fc, &device, &add_args(first + i)))
        .collect();
    report_spread(&format!("CLI add at {first}..{size} (whole process)"), adds);
    report(
        &format!("sync of {NEW_ACTIVITIES} new activities"),
        timed(fc, &device, &["sync"]),
        "",
    );
    // A relay at rest, as the office finds it on a usual morning: it compacts
    // the centre's journal once no change came for COMPACT_WHEN_QUIET_FOR, so
    // the download does not share the CPU with that, and the relay's bytes
    // below are its file at rest.
    // One compaction is due after the first sync: after the 100 new
    // activities' sync if it came within the quiet time (as on this
    // machine), else before it (and the 100 alone are not due one). A
    // smaller journal is never due one: the office downloads it as the
    // relay holds it, its appended changes.
    if size >= RELAY_COMPACTS_FROM {
        wait_for(&relay.said, "journal compacted");
    }
    let office = root.path().join("office");
    cli(
        fc,
        &office,
        &["init", "--centre", "IIC birojs", "--device-name", "Birojs"],
    );
    let code = relay.admin(&["enrol-code", "--office"]);
    cli(fc, &office, &["enrol", code.trim()]);
    let (download, cpu) = relay.beside(|| took(fc, &office, &["sync"]));
    report(
        &format!("office's first download of {size}"),
        download.wall,
        &cpu_note(&download, cpu),
    );
    // Neither an import nor a sync compacts: `field-client run` does once
    // the store is quiet (field-client/src/daemon.rs). `compact` does the
    // same work at once here, so that the files below are at rest.
    for (who, dir) in [("device", &device), ("office", &office)] {
        report(
            &format!("compaction at rest: {who}"),
            timed(fc, dir, &["compact"]),
            "(what `run` does when quiet)",
        );
    }
    let per = |path: PathBuf| std::fs::metadata(&path).map_or(0, |m| m.len()) as f64 / size as f64;
    let relay_file = journal_file(&relay.dir);
    println!(
        "{:<48} device {:>6.0} B, relay {:>6.0} B, office {:>6.0} B",
        "store bytes per activity",
        per(device.join("journal.redb")),
        per(relay_file),
        per(office.join("journal.redb")),
    );
    beside_run(fc, &device, size);
}

/// `add` processes beside a running `field-client run`, and each one's time
/// until `run` says the relay stored it.
fn beside_run(fc: &Path, device: &Path, size: usize) {
    let mut run = field_client(fc, device, &["run", "--no-web"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start field-client run");
    let said = follow(run.stderr.take().expect("piped"));
    // No wait for its first round: the first add's time to `Ack` includes
    // it (and the journal's load), which is what the p99 shows.
    wait_for(&said, "in the background");
    let (mut adds, mut acked) = (Vec::new(), Vec::new());
    for i in 0..ADDS_BESIDE_RUN {
        let started = Instant::now();
        adds.push(timed(fc, device, &add_args(size + i)));
        wait_for(&said, "stored 1 changes");
        acked.push(started.elapsed());
    }
    let _ = run.kill();
    let _ = run.wait();
    report_spread("CLI add beside `run` (whole process)", adds);
    report_spread("CLI add beside `run` → relay Ack", acked);
}

fn add_args(i: usize) -> Vec<String> {
    let row = Row::new(i);
    let mut args = vec![
        "add".to_owned(),
        "--title".into(),
        row.title,
        "--kind".into(),
        row.kind.into(),
        "--date".into(),
        row.date,
        "--start".into(),
        row.start,
        "--hours".into(),
        row.hours,
        "--place".into(),
        PLACE.into(),
        "--description".into(),
        row.description,
        "--notes".into(),
        NOTES.into(),
    ];
    for o in &row.organisers {
        args.extend(["--organiser".into(), o.clone()]);
    }
    for inst in &row.institutions {
        args.extend(["--institution".into(), inst.clone()]);
    }
    for (group, n) in row.counts {
        args.extend(["--count".into(), format!("{group}={n}")]);
    }
    args
}

struct RelayProcess {
    dir: PathBuf,
    child: Child,
    /// What it logs, line by line.
    said: Receiver<String>,
}

impl RelayProcess {
    fn start(bin: &Path, dir: &Path) -> RelayProcess {
        std::fs::create_dir_all(dir).expect("relay folder");
        let mut child = Command::new(bin)
            .arg("--data-dir")
            .arg(dir)
            .args(["serve", "--listen", "127.0.0.1:0"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start relay serve");
        let said = follow(child.stderr.take().expect("piped"));
        let mut first = String::new();
        BufReader::new(child.stdout.take().expect("piped"))
            .read_line(&mut first)
            .expect("the relay's first line");
        let addr = first
            .split_whitespace()
            .nth(3)
            .expect("an address")
            .to_owned();
        std::fs::write(dir.join("public-address"), &addr).expect("public address");
        RelayProcess {
            dir: dir.to_owned(),
            child,
            said,
        }
    }

    fn admin(&self, args: &[&str]) -> String {
        let out = Command::new(tests::relay_bin())
            .arg("--data-dir")
            .arg(&self.dir)
            .args(args)
            .output()
            .expect("relay admin command");
        assert!(
            out.status.success(),
            "relay {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        // The id or code is the last line, or the line of the code.
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        let code = stdout.lines().find(|l| l.trim_start().starts_with("KRC"));
        code.or(stdout.lines().last())
            .unwrap_or_default()
            .trim()
            .to_owned()
    }
}

impl RelayProcess {
    /// Runs `step`; with the relay's CPU time meanwhile.
    fn beside<T>(&self, step: impl FnOnce() -> T) -> (T, Duration) {
        let before = cpu_time(self.child.id());
        let done = step();
        (done, cpu_time(self.child.id()).saturating_sub(before))
    }
}

/// CPU time of a step, beside its wall time: the process's and the relay's.
fn cpu_note(took: &Took, relay: Duration) -> String {
    format!(
        "CPU: field-client {:.2} s, relay {:.2} s",
        took.cpu.as_secs_f64(),
        relay.as_secs_f64()
    )
}

impl Drop for RelayProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The relay's file of the centre's journal: the largest (the office's own
/// journal, empty, has one too).
fn journal_file(relay_dir: &Path) -> PathBuf {
    std::fs::read_dir(relay_dir.join("journals"))
        .expect("the relay's journals")
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "redb"))
        .max_by_key(|p| std::fs::metadata(p).map_or(0, |m| m.len()))
        .expect("a journal file")
}

fn timed<S: AsRef<std::ffi::OsStr>>(fc: &Path, data_dir: &Path, args: &[S]) -> Duration {
    took(fc, data_dir, args).wall
}

fn follow(stream: impl std::io::Read + Send + 'static) -> Receiver<String> {
    let (tx, rx) = channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stream).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

fn wait_for(lines: &Receiver<String>, needle: &str) {
    let deadline = Instant::now() + SAY_TIMEOUT;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match lines.recv_timeout(left) {
            Ok(line) if line.contains(needle) => return,
            Ok(_) => {}
            Err(_) => panic!("no line with {needle:?} within {SAY_TIMEOUT:?}"),
        }
    }
}

fn median(mut times: Vec<Duration>) -> Duration {
    times.sort();
    times[times.len() / 2]
}

fn report_spread(what: &str, mut times: Vec<Duration>) {
    times.sort();
    let at = |q: f64| times[((times.len() - 1) as f64 * q).round() as usize].as_secs_f64() * 1e3;
    println!(
        "{what:<48} median {:>7.1} ms, p99 {:>7.1} ms (n = {})",
        at(0.5),
        at(0.99),
        times.len()
    );
}
