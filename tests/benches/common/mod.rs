//! What the benchmarks of whole `field-client` processes share: realistic
//! Latvian activities (about 925 bytes of JSON each) as CSV rows or `add`
//! arguments, and timing a process with its peak resident memory.

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

/// Wall time of one whole process, and its peak resident memory (sampled
/// every 10 ms from /proc on Linux; 0 elsewhere).
pub(crate) fn timed_with_peak<S: AsRef<std::ffi::OsStr>>(
    fc: &Path,
    data_dir: &Path,
    args: &[S],
) -> (Duration, u64) {
    let started = Instant::now();
    let mut child = field_client(fc, data_dir, args)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("field-client");
    let status_file = format!("/proc/{}/status", child.id());
    let mut peak = 0;
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        peak = peak.max(high_water_mark(&status_file));
        std::thread::sleep(
            Duration::from_millis(10).min(started.elapsed() / 4 + Duration::from_micros(200)),
        );
    };
    let elapsed = started.elapsed();
    if !status.success() {
        let mut err = String::new();
        if let Some(mut stderr) = child.stderr.take() {
            let _ = std::io::Read::read_to_string(&mut stderr, &mut err);
        }
        panic!("field-client failed: {err}");
    }
    (elapsed, peak)
}

fn high_water_mark(status_file: &str) -> u64 {
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
