//! Helpers for the end-to-end tests in `tests/tests/`: locating (and building)
//! the `field-client` binary, running it against a throw-away data folder, a
//! small seeded random number generator, and the deterministic activities the
//! `crash_writer` helper binary records.

use std::ffi::OsStr;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;
use std::thread::JoinHandle;
use std::time::Duration;

use wait_timeout::ChildExt;

pub mod browser;
pub mod crash_disk;
pub mod link;
pub mod postgres;
pub mod relay_process;
pub mod sample_files;

use sync_core::{Activity, ActivityId, ActivityInput, Kind};
use uuid::Uuid;

/// Name of the store file inside a data folder (as `field-client` names it).
pub const STORE_FILE: &str = "journal.redb";

/// Ten of Latgale's centres (with Latvian letters, as the relay stores them).
pub const LATGALE_CENTRES: [&str; 10] = [
    "Daugavpils KRC",
    "Rēzeknes KRC",
    "Ludzas KRC",
    "Krāslavas KRC",
    "Balvu KRC",
    "Preiļu KRC",
    "Līvānu KRC",
    "Aglonas KRC",
    "Viļānu KRC",
    "Dagdas KRC",
];

/// Every Latvian letter with a diacritic, small and capital.
pub const LATVIAN_LETTERS: &str = "āčēģīķļņšūž ĀČĒĢĪĶĻŅŠŪŽ";

/// The participant groups' keys, in export order.
pub const GROUP_KEYS: [&str; 8] = [
    "teachers",
    "children_and_youth",
    "parents",
    "municipal_staff",
    "ngo_representatives",
    "media",
    "volunteers",
    "other",
];

/// The profile folder the running test executable was built into
/// (`target/debug` for `target/debug/deps/cli_commands-1234` or
/// `target/debug/examples/write_fixtures`).
fn profile_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("the test executable knows its own path");
    let mut dir = exe
        .parent()
        .expect("the test executable is in a folder")
        .to_owned();
    // Test binaries live in `deps/`, example programs (the fixture writer) in
    // `examples/`, both under the profile folder.
    if dir.ends_with("deps") || dir.ends_with("examples") {
        dir.pop();
    }
    dir
}

/// Path of the `field-client` binary, built (once per test process) with the
/// same profile as the running tests, so `cargo test` on a fresh clone works.
pub fn field_client_bin() -> PathBuf {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| workspace_bin("field-client")).clone()
}

/// Path of the `relay` binary, built like [`field_client_bin`].
pub fn relay_bin() -> PathBuf {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| workspace_bin("relay")).clone()
}

/// Variables cargo sets for a running test that must not reach the nested
/// `cargo build`: build scripts (ring's) rerun when `CARGO_MANIFEST_DIR`
/// changes, so passing them on would rebuild the TLS stack on every call.
const TEST_ONLY_CARGO_VARS: [&str; 7] = [
    "CARGO_MANIFEST_DIR",
    "CARGO_MANIFEST_PATH",
    "CARGO_CRATE_NAME",
    "CARGO_PRIMARY_PACKAGE",
    "CARGO_TARGET_TMPDIR",
    "CARGO_BIN_NAME",
    "OUT_DIR",
];

/// Builds the binary named like its `package` with the running tests' profile
/// and returns its path.
fn workspace_bin(package: &str) -> PathBuf {
    let profile = profile_dir();
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut command = Command::new(cargo);
    for var in TEST_ONLY_CARGO_VARS {
        command.env_remove(var);
    }
    for (var, _) in std::env::vars_os() {
        if var.to_str().is_some_and(|v| v.starts_with("CARGO_PKG_")) {
            command.env_remove(var);
        }
    }
    match profile.file_name().and_then(OsStr::to_str) {
        // `cargo test --workspace` has already built every binary with the
        // features the whole workspace's tests unify to; asking for exactly
        // that again is a no-op. `cargo build -p` would resolve features for
        // one package alone and build a second copy of most dependencies.
        Some("debug") | None => {
            command.args(["test", "--workspace", "--no-run"]);
        }
        Some("release") => {
            command.args(["build", "--release", "-p", package, "--bin", package]);
        }
        Some(other) => {
            command.args(["build", "--profile", other, "-p", package, "--bin", package]);
        }
    }
    command.args(["--quiet", "--message-format=json"]);
    let output = command
        .stderr(Stdio::piped())
        .output()
        .unwrap_or_else(|e| panic!("cannot run cargo to build {package}: {e}"));
    assert!(
        output.status.success(),
        "building {package} failed:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    // Cargo names the executable it built; fall back to the profile folder.
    let built = String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter(|m| m["reason"] == "compiler-artifact" && m["target"]["name"] == package)
        .filter(|m| m["target"]["kind"][0] == "bin" && m["profile"]["test"] == false)
        .find_map(|m| m["executable"].as_str().map(PathBuf::from));
    let bin =
        built.unwrap_or_else(|| profile.join(format!("{package}{}", std::env::consts::EXE_SUFFIX)));
    assert!(bin.is_file(), "{package} was built but {bin:?} is missing");
    bin
}

/// Longest a one-shot CLI command may run in a test. Generous: the slowest
/// (importing or syncing thousands of activities in a debug build on a busy
/// 2-core machine) take well under a minute; one that runs this long hangs.
pub const COMMAND_TIMEOUT: Duration = Duration::from_secs(300);

/// Reads `pipe` to its end on a thread, so a chatty process never blocks on a
/// full pipe while the test waits for it to exit.
fn read_all_in_background(mut pipe: impl Read + Send + 'static) -> JoinHandle<Vec<u8>> {
    std::thread::spawn(move || {
        let mut bytes = Vec::new();
        let _ = pipe.read_to_end(&mut bytes);
        bytes
    })
}

/// The result of one run of the CLI.
#[derive(Debug)]
pub struct Run {
    pub stdout: String,
    pub stderr: String,
    /// The exit code; `None` if a signal ended the process.
    pub code: Option<i32>,
    /// Standard output exactly as written (for byte-order marks and encodings).
    pub stdout_bytes: Vec<u8>,
}

impl Run {
    fn from_output(output: Output) -> Run {
        Run {
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
            code: output.status.code(),
            stdout_bytes: output.stdout,
        }
    }

    /// Asserts that the command failed with a plain error: a non-zero exit
    /// code that is not a panic (101), not a signal, and no panic message.
    pub fn assert_plain_failure(&self, what: &str) {
        assert!(
            self.code.is_some(),
            "{what}: the process was ended by a signal\nstderr: {}",
            self.stderr
        );
        assert_ne!(
            self.code,
            Some(0),
            "{what}: succeeded\nstdout: {}",
            self.stdout
        );
        assert_ne!(
            self.code,
            Some(101),
            "{what}: panicked\nstderr: {}",
            self.stderr
        );
        assert!(
            !self.stderr.contains("panicked"),
            "{what}: printed a panic\nstderr: {}",
            self.stderr
        );
        assert!(
            self.stderr.lines().any(|l| l.starts_with("error: ")),
            "{what}: no plain error message\nstderr: {}",
            self.stderr
        );
    }
}

/// A `field-client` command started by [`Cli::spawn`], its output being read.
#[derive(Debug)]
pub struct Spawned {
    args: Vec<std::ffi::OsString>,
    child: std::process::Child,
    stdout: JoinHandle<Vec<u8>>,
    stderr: JoinHandle<Vec<u8>>,
}

impl Spawned {
    /// The process id (for measuring it while it runs).
    pub fn id(&self) -> u32 {
        self.child.id()
    }

    /// Waits for the command to end and captures everything. If it still runs
    /// at `deadline` it is killed and the test fails: a command that hangs
    /// costs one test, not the whole run.
    pub fn finish_by(mut self, deadline: std::time::Instant) -> Run {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        let status = match self
            .child
            .wait_timeout(left)
            .expect("wait for field-client")
        {
            Some(status) => status,
            None => {
                let _ = self.child.kill();
                let _ = self.child.wait();
                let stderr =
                    String::from_utf8_lossy(&self.stderr.join().unwrap_or_default()).into_owned();
                panic!(
                    "field-client {:?} was still running after {left:?} and was stopped\n\
                     stderr: {stderr}",
                    self.args
                );
            }
        };
        Run::from_output(Output {
            status,
            stdout: self.stdout.join().expect("stdout reader"),
            stderr: self.stderr.join().expect("stderr reader"),
        })
    }
}

/// `field-client` bound to its own temporary data folder.
#[derive(Debug)]
pub struct Cli {
    dir: PathBuf,
    /// Deletes the folder when the test is done (absent for [`Cli::at`]).
    _temp: Option<tempfile::TempDir>,
}

impl Default for Cli {
    fn default() -> Self {
        Cli::new()
    }
}

impl Cli {
    /// A data folder with no journal in it yet.
    pub fn new() -> Cli {
        let temp = tempfile::tempdir().expect("cannot create a temporary folder");
        Cli {
            dir: temp.path().to_owned(),
            _temp: Some(temp),
        }
    }

    /// An existing data folder (e.g. one the `demo` command made); not deleted.
    pub fn at(dir: impl Into<PathBuf>) -> Cli {
        Cli {
            dir: dir.into(),
            _temp: None,
        }
    }

    /// A data folder with a journal for `centre`.
    pub fn init(centre: &str) -> Cli {
        let cli = Cli::new();
        cli.ok(["init", "--centre", centre, "--device-name", "Testa dators"]);
        cli
    }

    pub fn data_dir(&self) -> &Path {
        &self.dir
    }

    pub fn store_path(&self) -> PathBuf {
        self.dir.join(STORE_FILE)
    }

    /// A file path inside the data folder, for exports and imports.
    pub fn file(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// Writes `bytes` to a file of the data folder (a photo to attach, a
    /// file to import); its path.
    pub fn write_file(&self, name: &str, bytes: &[u8]) -> PathBuf {
        let path = self.file(name);
        std::fs::write(&path, bytes).expect("cannot write a test file");
        path
    }

    /// The command, with `--data-dir` set, ready to spawn.
    pub fn command<I, S>(&self, args: I) -> Command
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let mut command = Command::new(field_client_bin());
        command
            .arg("--data-dir")
            .arg(&self.dir)
            .args(args)
            .env_remove("FIELD_CLIENT_DATA_DIR")
            // Files and messages in English unless a test asks for Latvian
            // (the CLI follows the system's language).
            .env_remove("LC_ALL")
            .env_remove("LC_MESSAGES")
            .env("LANG", "C.UTF-8")
            .stdin(Stdio::null());
        command
    }

    /// Runs the command to its end and captures everything. A command still
    /// running after [`COMMAND_TIMEOUT`] is killed and the test fails, so a
    /// command that hangs costs one test, not the whole run.
    pub fn run<I, S>(&self, args: I) -> Run
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.spawn(args)
            .finish_by(std::time::Instant::now() + COMMAND_TIMEOUT)
    }

    /// Starts the command, capturing its output, and returns at once: for
    /// tests that run many commands at the same moment.
    pub fn spawn<I, S>(&self, args: I) -> Spawned
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let args: Vec<_> = args.into_iter().map(|a| a.as_ref().to_owned()).collect();
        let mut child = self
            .command(&args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("cannot run field-client");
        let stdout = read_all_in_background(child.stdout.take().expect("stdout is piped"));
        let stderr = read_all_in_background(child.stderr.take().expect("stderr is piped"));
        Spawned {
            args,
            child,
            stdout,
            stderr,
        }
    }

    /// Runs the command, asserts it succeeded, and returns its stdout.
    pub fn ok<I, S>(&self, args: I) -> String
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let args: Vec<_> = args.into_iter().map(|a| a.as_ref().to_owned()).collect();
        let run = self.run(&args);
        assert_eq!(
            run.code,
            Some(0),
            "field-client {args:?} failed\nstdout: {}\nstderr: {}",
            run.stdout,
            run.stderr
        );
        run.stdout
    }

    /// Runs the command, asserts it failed with a plain error (not a panic),
    /// and returns its stderr.
    pub fn fails<I, S>(&self, args: I) -> String
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let args: Vec<_> = args.into_iter().map(|a| a.as_ref().to_owned()).collect();
        let run = self.run(&args);
        run.assert_plain_failure(&format!("field-client {args:?}"));
        run.stderr
    }

    /// Adds an activity and returns its id (asserting one id line on stdout).
    pub fn add<I, S>(&self, fields: I) -> String
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let mut args: Vec<std::ffi::OsString> = vec!["add".into()];
        args.extend(fields.into_iter().map(|a| a.as_ref().to_owned()));
        let stdout = self.ok(&args);
        let lines: Vec<&str> = stdout.lines().collect();
        assert_eq!(lines.len(), 1, "add printed {stdout:?}");
        assert!(
            lines[0].parse::<Uuid>().is_ok(),
            "add printed {stdout:?}, not an id"
        );
        lines[0].to_owned()
    }

    /// `list --json` (plus `extra` flags) parsed as one JSON array.
    pub fn list_json(&self, extra: &[&str]) -> Vec<serde_json::Value> {
        let mut args = vec!["list", "--json"];
        args.extend_from_slice(extra);
        parse_json_array(&self.ok(args))
    }

    /// `status --json`, parsed.
    pub fn status_json(&self) -> serde_json::Value {
        serde_json::from_str(&self.ok(["status", "--json"])).expect("status --json prints JSON")
    }
}

/// Parses text that must be exactly one JSON array.
pub fn parse_json_array(text: &str) -> Vec<serde_json::Value> {
    match serde_json::from_str(text) {
        Ok(serde_json::Value::Array(items)) => items,
        Ok(other) => panic!("expected a JSON array, got {other}"),
        Err(e) => panic!("not JSON ({e}): {text}"),
    }
}

/// SplitMix64: a tiny, seedable generator, so a failing run can be repeated.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    /// A seed from the environment variable `name` if set (to repeat a
    /// failure), otherwise from the clock.
    pub fn seed_from_env(name: &str) -> u64 {
        match std::env::var(name) {
            Ok(text) => text
                .trim()
                .parse()
                .unwrap_or_else(|_| panic!("{name}={text} is not a number")),
            Err(_) => std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0x5EED, |d| d.as_nanos() as u64),
        }
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `range` (inclusive start, exclusive end).
    pub fn below(&mut self, end: u64) -> u64 {
        assert!(end > 0);
        self.next_u64() % end
    }

    pub fn range(&mut self, start: u64, end: u64) -> u64 {
        start + self.below(end - start)
    }

    /// A number in [0, 1).
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1_u64 << 53) as f64
    }

    /// True with probability `p`.
    pub fn chance(&mut self, p: f64) -> bool {
        p > 0.0 && self.unit() < p
    }
}

/// Prints the seed if the test panics while this is alive, so the failing
/// sequence can be replayed with `<VAR>=<seed> cargo test`.
#[derive(Debug)]
pub struct SeedReport {
    pub var: &'static str,
    pub seed: u64,
}

impl SeedReport {
    /// The seed from the environment variable `var` (or the clock), and a
    /// report that prints it if the test fails.
    pub fn from_env(var: &'static str) -> (u64, SeedReport) {
        let seed = Rng::seed_from_env(var);
        (seed, SeedReport { var, seed })
    }
}

/// Seeds for a run of many scenarios: consecutive from `seed_var`'s seed (or
/// the clock). `count_var` sets how many; one when `seed_var` is set (to replay
/// a failure), else `quick`.
pub fn seeds_from_env(seed_var: &str, count_var: &str, quick: u64) -> impl Iterator<Item = u64> {
    let first = Rng::seed_from_env(seed_var);
    let default = if std::env::var_os(seed_var).is_some() {
        1
    } else {
        quick
    };
    let count = std::env::var(count_var)
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(default);
    (0..count).map(move |k| first.wrapping_add(k))
}

impl Drop for SeedReport {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!(
                "random seed: {} (repeat with {}={} cargo test -p tests)",
                self.seed, self.var, self.seed
            );
        }
    }
}

/// The id the crash writer gives the `n`th activity of run `run`.
pub fn crash_id(run: u64, n: u64) -> ActivityId {
    ActivityId(Uuid::from_u128((u128::from(run) << 64) | u128::from(n)))
}

/// The (run, n) an id made by [`crash_id`] encodes.
pub fn crash_run_and_n(id: ActivityId) -> (u64, u64) {
    let v = id.0.as_u128();
    ((v >> 64) as u64, v as u64)
}

/// The fields the crash writer records for activity `n` of run `run`:
/// every field is derived from the numbers, so a reader can check them.
pub fn crash_input(run: u64, n: u64) -> ActivityInput {
    let mut counts = vec![
        ("teachers".to_owned(), (n % 50).to_string()),
        ("parents".to_owned(), (run % 7).to_string()),
    ];
    if n.is_multiple_of(3) {
        counts.push(("volunteers".to_owned(), ((n / 3) % 11).to_string()));
    }
    ActivityInput {
        title: Some(format!("Avārijas tests {run}/{n}: ģērbšanās čūskā")),
        kind: Some(
            Kind::ALL[(n % Kind::ALL.len() as u64) as usize]
                .key()
                .to_owned(),
        ),
        date: Some(format!("2026-{:02}-{:02}", 1 + n % 12, 1 + n % 28)),
        start: n
            .is_multiple_of(2)
            .then(|| format!("{:02}:{:02}", 8 + n % 10, (n * 7) % 60)),
        hours: (n % 4 != 1).then(|| format!("{}", 1 + n % 6)),
        place: Some(format!("Ķekava, telpa {}", n % 9)),
        organisers: Some(vec![format!("Līga {run}"), format!("Žanis {n}")]),
        institutions: Some(vec![format!("{}.PII", n % 30)]),
        counts,
        description: Some(format!("apraksts {run} {n} ņ")),
        notes: Some(String::new()),
    }
}

/// Checks that `a` holds exactly what the crash writer wrote for its id.
pub fn check_crash_activity(a: &Activity) -> Result<(), String> {
    let (run, n) = crash_run_and_n(a.id);
    let input = crash_input(run, n);
    let expected = input
        .parse()
        .map_err(|e| format!("the crash writer's input does not parse: {e}"))?;
    let mut problems = Vec::new();
    let mut check = |field: &str, ok: bool| {
        if !ok {
            problems.push(field.to_owned());
        }
    };
    check("title", Some(&a.title) == expected.title.as_ref());
    check("kind", Some(a.kind) == expected.kind);
    check("date", Some(a.date) == expected.date);
    check("start", a.start == expected.start.flatten());
    check("hours", a.hours == expected.hours.flatten());
    check("place", Some(&a.place) == expected.place.as_ref());
    check(
        "organisers",
        Some(&a.organisers) == expected.organisers.as_ref(),
    );
    check(
        "institutions",
        Some(&a.institutions) == expected.institutions.as_ref(),
    );
    let mut counts = sync_core::Counts::default();
    for (group, value) in &expected.counts {
        counts.set(*group, *value);
    }
    check("counts", a.counts == counts);
    check(
        "description",
        Some(&a.description) == expected.description.as_ref(),
    );
    check("notes", a.notes.is_empty());
    check("deleted", !a.deleted);
    check("recorded_by", a.recorded_by == CRASH_DEVICE);
    if problems.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "activity {} (run {run}, nr {n}) differs in: {}\n{a:#?}",
            a.id,
            problems.join(", ")
        ))
    }
}

/// Device name of the stores the crash tests create.
pub const CRASH_DEVICE: &str = "avārijas dators";

/// Spins (without sleeping) for a random time below `max`, so a kill lands at
/// a random point of whatever a child process is doing.
pub fn spin(rng: &mut Rng, max: std::time::Duration) {
    let wait = std::time::Duration::from_micros(rng.below(max.as_micros() as u64 + 1));
    let start = std::time::Instant::now();
    while start.elapsed() < wait {
        std::thread::yield_now();
    }
}
