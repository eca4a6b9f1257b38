//! What the benchmarks of whole `field-client` processes share: realistic
//! Latvian activities (about 925 bytes of JSON each) as CSV rows or `add`
//! arguments, and timing a process with its peak resident memory. Each
//! bench uses a different subset, hence the `dead_code` allowance.
#![allow(dead_code)]

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

pub(crate) const PLACE: &str = "Daugavpils, Smilšu iela 92, BJC \"Mezgls\"";
pub(crate) const NOTES: &str = "Atsauksmes pozitīvas; nākamā tikšanās paredzēta pēc mēneša.";
const GROUPS: [&str; 5] = [
    "teachers",
    "children_and_youth",
    "parents",
    "municipal_staff",
    "volunteers",
];

/// One realistic activity, numbered.
pub(crate) struct Row {
    pub(crate) title: String,
    pub(crate) kind: &'static str,
    pub(crate) date: String,
    pub(crate) start: String,
    pub(crate) hours: String,
    pub(crate) organisers: Vec<String>,
    pub(crate) institutions: Vec<String>,
    pub(crate) counts: Vec<(&'static str, usize)>,
    pub(crate) description: String,
}

impl Row {
    pub(crate) fn new(i: usize) -> Row {
        Row {
            title: format!("Seminārs skolotājiem \"Skolas un ģimenes sadarbība\" nr. {i}"),
            kind: ["seminar", "workshop", "training", "event"][i % 4],
            date: format!("2026-{:02}-{:02}", 1 + i % 12, 1 + i % 28),
            start: format!("{:02}:{:02}", 9 + i % 9, (i % 4) * 15),
            hours: format!("{}", 1 + i % 6),
            organisers: vec!["Inese Kalniņa".into(), format!("Jānis Ozoliņš {}", i % 7)],
            institutions: vec![
                format!("{}.PII", i % 30),
                format!("{}.vsk", i % 17),
                "Daugavpils pilsētas Izglītības pārvalde".into(),
            ],
            counts: GROUPS
                .iter()
                .take(2 + i % 4)
                .enumerate()
                .map(|(g, name)| (*name, (i * (g + 3)) % 40))
                .collect(),
            description: format!(
                "Dalībnieki apsprieda skolas un ģimenes sadarbības formas, dalījās pieredzē \
                 un izstrādāja kopīgu rīcības plānu nākamajam mācību gadam. Sesija {i}."
            ),
        }
    }
}

/// Rows `from..from + n` as CSV in the export's columns.
pub(crate) fn activities_csv(from: usize, n: usize) -> String {
    let quote = |s: &str| format!("\"{}\"", s.replace('"', "\"\""));
    let mut out = String::from("title,kind,date,start,hours,place,organisers,institutions,");
    out.push_str(&GROUPS.join(","));
    out.push_str(",description,notes\n");
    for i in from..from + n {
        let row = Row::new(i);
        let mut counts = vec![String::new(); GROUPS.len()];
        for (g, (_, n)) in row.counts.iter().enumerate() {
            counts[g] = n.to_string();
        }
        let fields = [
            quote(&row.title),
            row.kind.into(),
            row.date,
            row.start,
            row.hours,
            quote(PLACE),
            quote(&row.organisers.join("; ")),
            quote(&row.institutions.join("; ")),
            counts.join(","),
            quote(&row.description),
            quote(NOTES),
        ];
        out.push_str(&fields.join(","));
        out.push('\n');
    }
    out
}

/// `field-client --data-dir DATA_DIR ARGS`.
pub(crate) fn field_client<S: AsRef<std::ffi::OsStr>>(
    fc: &Path,
    data_dir: &Path,
    args: &[S],
) -> Command {
    let mut command = Command::new(fc);
    command.arg("--data-dir").arg(data_dir).args(args);
    command
}

/// A new device store of the bench's centre, "Daugavpils KRC".
pub(crate) fn init_centre_device(fc: &Path, data_dir: &Path) {
    cli(
        fc,
        data_dir,
        &[
            "init",
            "--centre",
            "Daugavpils KRC",
            "--device-name",
            "Mezgls",
        ],
    );
}

pub(crate) fn cli(fc: &Path, data_dir: &Path, args: &[&str]) {
    let out = field_client(fc, data_dir, args)
        .output()
        .expect("field-client");
    assert!(
        out.status.success(),
        "field-client {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// What one whole `field-client` process took.
pub(crate) struct Took {
    pub(crate) wall: Duration,
    /// Its CPU time, user and system (Linux; zero elsewhere): beside the
    /// wall time because this machine's speed drifts, and a change that
    /// saves CPU shows here even when the wall time hides it.
    pub(crate) cpu: Duration,
    /// Peak resident memory, sampled every 10 ms (Linux; 0 elsewhere).
    pub(crate) peak: u64,
}

/// Runs `field-client ARGS` on `data_dir` to its end; panics if it fails.
pub(crate) fn took<S: AsRef<std::ffi::OsStr>>(fc: &Path, data_dir: &Path, args: &[S]) -> Took {
    let started = Instant::now();
    let mut child = field_client(fc, data_dir, args)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("field-client");
    let status_file = format!("/proc/{}/status", child.id());
    let mut peak = 0;
    let mut cpu = Duration::ZERO;
    let status = loop {
        // Ended, and not reaped yet: its CPU time is still in /proc.
        if has_exited(&child) {
            cpu = cpu_time(child.id());
            break child.wait().expect("wait");
        }
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        peak = peak.max(high_water_mark(&status_file));
        std::thread::sleep(
            Duration::from_millis(10).min(started.elapsed() / 4 + Duration::from_micros(200)),
        );
    };
    let wall = started.elapsed();
    if !status.success() {
        let mut err = String::new();
        if let Some(mut stderr) = child.stderr.take() {
            let _ = std::io::Read::read_to_string(&mut stderr, &mut err);
        }
        panic!("field-client failed: {err}");
    }
    Took { wall, cpu, peak }
}

/// True once `child` has exited, leaving it to be reaped (`WNOWAIT`).
#[cfg(target_os = "linux")]
fn has_exited(child: &std::process::Child) -> bool {
    use rustix::process::{Pid, WaitId, WaitIdOptions, waitid};
    let Some(pid) = Pid::from_raw(child.id() as i32) else {
        return false;
    };
    let options = WaitIdOptions::EXITED | WaitIdOptions::NOHANG | WaitIdOptions::NOWAIT;
    matches!(waitid(WaitId::Pid(pid), options), Ok(Some(_)))
}

#[cfg(not(target_os = "linux"))]
fn has_exited(_child: &std::process::Child) -> bool {
    false
}

/// CPU time (user and system) process `pid` has used so far, from
/// /proc/PID/stat (Linux; zero elsewhere or once it is gone).
pub(crate) fn cpu_time(pid: u32) -> Duration {
    #[cfg(target_os = "linux")]
    {
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            return Duration::ZERO;
        };
        // Fields after the command (in parentheses, which may hold spaces):
        // utime and stime are the 12th and 13th.
        let after = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
        let ticks: u64 = after
            .split_whitespace()
            .skip(11)
            .take(2)
            .filter_map(|t| t.parse::<u64>().ok())
            .sum();
        let per_second = rustix::param::clock_ticks_per_second().max(1);
        Duration::from_nanos(ticks.saturating_mul(1_000_000_000) / per_second)
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = pid;
        Duration::ZERO
    }
}

pub(crate) fn high_water_mark(status_file: &str) -> u64 {
    std::fs::read_to_string(status_file)
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        })
        .map_or(0, |kb| kb * 1024)
}

/// The journal sizes named on the command line (`cargo bench … -- 10000
/// 50000`), else `default`.
pub(crate) fn sizes_from_args(default: &[usize]) -> Vec<usize> {
    let sizes: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    if sizes.is_empty() {
        default.to_vec()
    } else {
        sizes
    }
}

pub(crate) fn report(what: &str, time: Duration, extra: &str) {
    println!("{what:<48} {:>9.1} ms {extra}", time.as_secs_f64() * 1e3);
}
