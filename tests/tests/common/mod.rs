//! Shared helpers for the `sync_*` tests: the `relay` binary (built once), a
//! relay process on loopback with its log, and `field-client` devices enrolled
//! with it. Everything runs as real processes over real QUIC on 127.0.0.1.
//!
//! Nothing here sleeps: a test waits for a line on a process's output, for a
//! process to exit, or repeats `field-client sync` a bounded number of times.

// Each test binary uses only some of these helpers.
#![allow(dead_code)]

use std::collections::{BTreeMap, BTreeSet};
use std::ffi::OsStr;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, ChildStdout, Command, Output, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError, channel};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub(crate) mod office;
pub(crate) mod raw;

/// Ten of Latgale's centres (with Latvian letters, as the relay stores them).
pub(crate) const LATGALE_CENTRES: [&str; 10] = tests::LATGALE_CENTRES;

use serde_json::{Value, json};
use tests::{Cli, Run, relay_bin};
use uuid::Uuid;

/// Longest wait for a line a process is expected to print. Generous: a
/// loaded two-core machine running debug builds is slow, and a test that
/// waits this long has failed anyway.
pub(crate) const LINE_TIMEOUT: Duration = Duration::from_secs(120);

/// One running `relay serve` process.
#[derive(Debug)]
struct Running {
    child: Child,
    /// Kept open so the relay never writes to a closed pipe.
    _stdout: BufReader<ChildStdout>,
    /// Every stderr line since this process started.
    log: Arc<Mutex<Vec<String>>>,
    /// The same lines, for waiting on one.
    lines: Receiver<String>,
}

/// A relay data folder and, while started, the `relay serve` process on it.
/// The first start picks a free port; restarts reuse it, as devices keep the
/// address they were enrolled with.
#[derive(Debug)]
pub(crate) struct Relay {
    dir: tempfile::TempDir,
    running: Option<Running>,
    addr: SocketAddr,
    fingerprint: String,
    /// More arguments of `relay serve`, at every start.
    extra: Vec<String>,
    /// The PostgreSQL database it keeps its data in (`--store`), when the
    /// tests run on PostgreSQL (`tests::postgres`); none: its data folder.
    store: Option<String>,
}

impl Relay {
    /// [`Relay::start`] with more arguments for `relay serve` (`--metrics …`).
    pub(crate) fn start_with(extra: &[&str]) -> Relay {
        let dir = tempfile::tempdir().expect("cannot create a temporary folder");
        let loopback: SocketAddr = "127.0.0.1:0".parse().expect("an address");
        let extra: Vec<String> = extra.iter().map(|a| (*a).to_owned()).collect();
        let store = tests::postgres::store_for_new_relay();
        let (running, addr, fingerprint) = spawn_relay(dir.path(), loopback, &extra, &store);
        Relay {
            dir,
            running: Some(running),
            addr,
            fingerprint,
            extra,
            store,
        }
    }

    /// A new data folder and a relay serving it on a free loopback port.
    pub(crate) fn start() -> Relay {
        Relay::start_on(&std::env::temp_dir())
    }

    /// [`Relay::start`] with its data folder made inside `parent` (a small
    /// file system, say).
    pub(crate) fn start_on(parent: &Path) -> Relay {
        Relay::start_in(tempfile::tempdir_in(parent).expect("cannot create a temporary folder"))
    }

    /// A relay serving a data folder made before (a copy of a fixture) on a
    /// free loopback port.
    pub(crate) fn start_in(dir: tempfile::TempDir) -> Relay {
        let store = tests::postgres::store_for_new_relay();
        Relay::start_in_on(dir, store)
    }

    /// A relay on its data folder whatever the run's store.
    pub(crate) fn start_on_data_folder() -> Relay {
        let dir = tempfile::tempdir().expect("cannot create a temporary folder");
        Relay::start_in_on(dir, None)
    }

    /// Serves from `store` (a database, or with `None` its data folder)
    /// from the next [`Relay::restart`] on; the relay must be stopped.
    pub(crate) fn use_store(&mut self, store: Option<String>) {
        assert!(self.running.is_none(), "stop the relay first");
        self.store = store;
    }

    /// A relay on PostgreSQL whatever the run's store (`tests::postgres`).
    pub(crate) fn start_on_postgres() -> Relay {
        let dir = tempfile::tempdir().expect("cannot create a temporary folder");
        Relay::start_in_on(dir, Some(tests::postgres::fresh_database()))
    }

    /// A second relay of this one's deployment: its own data folder with a
    /// copy of this relay's key, on the same PostgreSQL database, on a port
    /// of its own.
    pub(crate) fn start_beside(&self) -> Relay {
        let store = self
            .store
            .clone()
            .expect("relays share a PostgreSQL store only");
        let dir = tempfile::tempdir().expect("cannot create a temporary folder");
        for file in ["relay.cert.der", "relay.key.der"] {
            std::fs::copy(self.data_dir().join(file), dir.path().join(file))
                .unwrap_or_else(|e| panic!("copy the relay's {file}: {e}"));
        }
        Relay::start_in_on(dir, Some(store))
    }

    fn start_in_on(dir: tempfile::TempDir, store: Option<String>) -> Relay {
        let loopback: SocketAddr = "127.0.0.1:0".parse().expect("an address");
        let (running, addr, fingerprint) = spawn_relay(dir.path(), loopback, &[], &store);
        Relay {
            dir,
            running: Some(running),
            addr,
            fingerprint,
            extra: Vec::new(),
            store,
        }
    }

    /// The relay's registry as its admin commands change it, in its data
    /// folder or its database.
    pub(crate) fn registry(&self) -> Box<dyn relay::registry::RegistryAdmin> {
        let store = match &self.store {
            Some(url) => relay::store::StoreLocation::Postgres(url.clone()),
            None => relay::store::StoreLocation::DataDir,
        };
        store
            .open_registry(self.data_dir())
            .expect("the relay's registry")
    }

    /// File `hash` of `centre`'s journal as the relay keeps it, if whole:
    /// from its journal file (the relay stopped) or its database.
    pub(crate) fn file_held(&self, centre: Uuid, hash: [u8; 32]) -> Option<Vec<u8>> {
        if let Some(url) = &self.store {
            return tests::postgres::whole_file(url, centre, &hash);
        }
        let store =
            sync_core::Store::open(&self.journal_file(centre)).expect("the relay's journal file");
        let mut out = Vec::new();
        store
            .read_file(sync_core::files::FileHash(hash), &mut out)
            .ok()
            .map(|_| out)
    }

    /// True when the relay keeps `text` anywhere: in a byte of a journal
    /// file, or in a row of its database.
    pub(crate) fn holds_text(&self, text: &str) -> bool {
        match &self.store {
            Some(url) => tests::postgres::rows_hold(url, text),
            None => self.journal_files().iter().any(|f| file_contains(f, text)),
        }
    }

    /// The heads of `centre`'s journal as the (stopped) relay keeps it.
    pub(crate) fn heads_of(&self, centre: Uuid) -> Vec<automerge::ChangeHash> {
        if let Some(url) = &self.store {
            use relay::store::RelayStore;
            let store = relay::store::PgStore::connect(url).expect("the relay's database");
            return store.state(centre).expect("the relay's journal").1;
        }
        let journal = sync_core::JournalId(centre);
        sync_core::Store::open(&self.journal_file(centre))
            .expect("the relay's journal file opens")
            .load_journal(journal)
            .expect("relay journal")
            .heads()
    }

    /// The PostgreSQL database of a relay on PostgreSQL.
    pub(crate) fn database(&self) -> Option<&str> {
        self.store.as_deref()
    }

    /// Starts the relay again on the same folder and port (after [`Relay::kill`]
    /// or [`Relay::stop`]); its key must be the same.
    pub(crate) fn restart(&mut self) {
        assert!(self.running.is_none(), "the relay is still running");
        let (running, addr, fingerprint) =
            spawn_relay(self.dir.path(), self.addr, &self.extra, &self.store);
        assert_eq!(addr, self.addr, "the relay came back on another address");
        assert_eq!(
            fingerprint, self.fingerprint,
            "the relay came back with another key"
        );
        self.running = Some(running);
    }

    /// Ends the relay at once with SIGKILL, as a crash or a power cut would;
    /// returns what it had logged.
    pub(crate) fn kill(&mut self) -> Vec<String> {
        let mut running = self.running.take().expect("the relay is running");
        running.child.kill().expect("cannot kill the relay");
        running.child.wait().expect("cannot wait for the relay");
        running.log.lock().expect("log lock").clone()
    }

    /// Stops the relay the way an administrator does (SIGTERM) and waits
    /// until it has exited cleanly. Unix only: Windows has no SIGTERM (the
    /// relay stops on Ctrl-C there).
    #[cfg(unix)]
    pub(crate) fn stop(&mut self) {
        let mut running = self.running.take().expect("the relay is running");
        let pid = running.child.id().to_string();
        let status = Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("cannot run kill");
        assert!(status.success(), "kill -TERM {pid} failed");
        let exit = running.child.wait().expect("cannot wait for the relay");
        assert!(
            exit.success(),
            "the relay did not stop cleanly ({exit}):\n{}",
            running.log.lock().expect("log lock").join("\n")
        );
    }

    /// True while the relay process has not exited.
    pub(crate) fn is_alive(&mut self) -> bool {
        self.running.as_mut().is_some_and(|r| {
            r.child
                .try_wait()
                .expect("cannot check the relay process")
                .is_none()
        })
    }

    pub(crate) fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The relay key's fingerprint, as printed by `relay serve`.
    pub(crate) fn fingerprint(&self) -> &str {
        &self.fingerprint
    }

    /// The relay's file of one centre's journal.
    pub(crate) fn journal_file(&self, centre: Uuid) -> std::path::PathBuf {
        self.data_dir()
            .join(relay::store::JOURNALS_DIR)
            .join(format!("{}.redb", centre.hyphenated()))
    }

    /// Every journal file of the relay (each centre's, once it synced).
    pub(crate) fn journal_files(&self) -> Vec<std::path::PathBuf> {
        let dir = self.data_dir().join(relay::store::JOURNALS_DIR);
        let mut files: Vec<std::path::PathBuf> = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .map(|entry| entry.expect("a folder entry").path())
            .collect();
        files.sort();
        files
    }

    pub(crate) fn data_dir(&self) -> &Path {
        self.dir.path()
    }

    /// Runs an admin command (`relay --data-dir D ARGS`) to its end.
    pub(crate) fn admin_run<I, S>(&self, args: I) -> Output
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let mut command = Command::new(relay_bin());
        command
            .arg("--data-dir")
            .arg(self.dir.path())
            .args(args)
            .env_remove("RELAY_DATA_DIR")
            .stdin(Stdio::null());
        with_store(&mut command, &self.store);
        command.output().expect("cannot run relay")
    }

    /// Runs an admin command, asserts it succeeded and returns its stdout, trimmed.
    pub(crate) fn admin<I, S>(&self, args: I) -> String
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let args: Vec<_> = args.into_iter().map(|a| a.as_ref().to_owned()).collect();
        let output = self.admin_run(&args);
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(
            output.status.success(),
            "relay {args:?} failed ({})\nstdout: {stdout}\nstderr: {}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        );
        stdout.trim().to_owned()
    }

    /// `relay centre add NAME`: the new centre's id.
    pub(crate) fn add_centre(&self, name: &str) -> Uuid {
        let out = self.admin(["centre", "add", name]);
        out.parse()
            .unwrap_or_else(|_| panic!("`centre add` printed {out:?}, not an id"))
    }

    /// A centre in `municipality`, as the office adds one for its reports.
    pub(crate) fn add_centre_in(&self, name: &str, municipality: &str) -> Uuid {
        let out = self.admin(["centre", "add", name, "--municipality", municipality]);
        out.parse()
            .unwrap_or_else(|_| panic!("`centre add` printed {out:?}, not an id"))
    }

    /// A one-time enrolment code for a device of `centre`.
    pub(crate) fn centre_code(&self, centre: Uuid) -> String {
        self.admin(["enrol-code", "--centre", &centre.to_string()])
    }

    /// A code for a device of `centre` that reaches the relay at `address`
    /// (a link emulator in front of it).
    pub(crate) fn centre_code_via(&self, centre: Uuid, address: std::net::SocketAddr) -> String {
        self.admin([
            "enrol-code",
            "--centre",
            &centre.to_string(),
            "--address",
            &address.to_string(),
        ])
    }

    /// A one-time enrolment code for an office device.
    pub(crate) fn office_code(&self) -> String {
        self.admin(["enrol-code", "--office"])
    }

    /// Waits (at most [`LINE_TIMEOUT`]) for the next log line of the running
    /// relay that contains `needle`, and returns it.
    pub(crate) fn wait_for_log(&self, needle: &str) -> String {
        let running = self.running.as_ref().expect("the relay is running");
        wait_for_line(&running.lines, needle, "the relay")
            .unwrap_or_else(|why| panic!("{why}:\n{}", self.log().join("\n")))
    }

    /// Every stderr line of the running (or last) relay process so far.
    pub(crate) fn log(&self) -> Vec<String> {
        self.running
            .as_ref()
            .map(|r| r.log.lock().expect("log lock").clone())
            .unwrap_or_default()
    }

    /// Serves from `dir` from now on (a folder `relay restore` filled), on
    /// the same port at the next [`Relay::restart`]; the relay must be stopped.
    pub(crate) fn use_dir(&mut self, dir: tempfile::TempDir) {
        assert!(self.running.is_none(), "stop the relay first");
        self.dir = dir;
    }

    /// Copies the whole data folder to `to` (the relay must be stopped).
    pub(crate) fn back_up(&self, to: &Path) {
        assert!(self.running.is_none(), "back up a stopped relay only");
        copy_dir(self.dir.path(), to);
    }

    /// Replaces the data folder with the copy in `from` (the relay must be stopped).
    pub(crate) fn restore(&self, from: &Path) {
        assert!(self.running.is_none(), "restore a stopped relay only");
        for entry in std::fs::read_dir(self.dir.path()).expect("read the relay folder") {
            let path = entry.expect("a folder entry").path();
            if path.is_dir() {
                std::fs::remove_dir_all(&path).expect("remove a folder");
            } else {
                std::fs::remove_file(&path).expect("remove a file");
            }
        }
        copy_dir(from, self.dir.path());
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        if let Some(mut running) = self.running.take() {
            if std::thread::panicking() {
                eprintln!(
                    "--- relay log ---\n{}\n---",
                    running.log.lock().map(|l| l.join("\n")).unwrap_or_default()
                );
            }
            let _ = running.child.kill();
            let _ = running.child.wait();
        }
    }
}

/// A relay command on `store` (`RELAY_STORE`), or on its data folder.
fn with_store(command: &mut Command, store: &Option<String>) {
    match store {
        Some(url) => command.env("RELAY_STORE", url),
        None => command.env_remove("RELAY_STORE"),
    };
}

/// Starts `relay serve` and waits for its first stdout line,
/// `relay listening on ADDR key FINGERPRINT`.
fn spawn_relay(
    dir: &Path,
    listen: SocketAddr,
    extra: &[String],
    store: &Option<String>,
) -> (Running, SocketAddr, String) {
    let mut command = Command::new(relay_bin());
    command
        .arg("--data-dir")
        .arg(dir)
        .args(["serve", "--listen", &listen.to_string()])
        .args(extra)
        .env_remove("RELAY_DATA_DIR")
        .env("RUST_LOG", "info")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    with_store(&mut command, store);
    let mut child = command.spawn().expect("cannot start relay");
    let log = Arc::new(Mutex::new(Vec::new()));
    let stderr = child.stderr.take().expect("stderr is piped");
    let shared = log.clone();
    let lines = follow_lines(stderr, move |line| {
        shared.lock().expect("log lock").push(line.to_owned());
    });
    let mut stdout = BufReader::new(child.stdout.take().expect("stdout is piped"));
    let mut first = String::new();
    let read = stdout
        .read_line(&mut first)
        .expect("read the relay's stdout");
    if read == 0 {
        let status = child.wait().expect("wait for the relay");
        // The stderr thread ends when the process does; drain what it saw.
        while lines.recv().is_ok() {}
        panic!(
            "relay serve exited ({status}) before listening:\n{}",
            log.lock().expect("log lock").join("\n")
        );
    }
    let words: Vec<&str> = first.split_whitespace().collect();
    let (addr, fingerprint) = match words.as_slice() {
        ["relay", "listening", "on", addr, "key", fingerprint] => (
            addr.parse::<SocketAddr>()
                .unwrap_or_else(|_| panic!("not an address in {first:?}")),
            (*fingerprint).to_owned(),
        ),
        _ => panic!("unexpected first line from relay serve: {first:?}"),
    };
    assert!(addr.ip().is_loopback(), "relay listens on {addr}");
    let running = Running {
        child,
        _stdout: stdout,
        log,
        lines,
    };
    (running, addr, fingerprint)
}

pub(crate) fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("create the copy's folder");
    for entry in std::fs::read_dir(from).expect("read a folder to copy") {
        let entry = entry.expect("a folder entry");
        let target = to.join(entry.file_name());
        if entry.file_type().expect("a file type").is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).expect("copy a file");
        }
    }
}

/// A field device: `init` with a centre name and a device name.
/// Whether the bytes of the file at `path` contain `text` (UTF-8) anywhere.
pub(crate) fn file_contains(path: &Path, text: &str) -> bool {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    bytes.windows(text.len()).any(|w| w == text.as_bytes())
}

pub(crate) fn device(centre: &str, name: &str) -> Cli {
    let cli = Cli::new();
    cli.ok(["init", "--centre", centre, "--device-name", name]);
    cli
}

/// `field-client enrol CODE`, which must succeed.
pub(crate) fn enrol(cli: &Cli, code: &str) {
    cli.ok(["enrol", code]);
}

/// One `field-client sync`, which must succeed; returns (sent, received).
pub(crate) fn sync_ok(cli: &Cli) -> (usize, usize) {
    let run = cli.run(["sync"]);
    assert_eq!(
        run.code,
        Some(0),
        "sync failed\nstdout: {}\nstderr: {}",
        run.stdout,
        run.stderr
    );
    sent_received(&run.stdout)
}

/// Runs `field-client sync` until it exits 0, at most `attempts` times (each
/// attempt must end by itself, failed or not); returns the successful run.
pub(crate) fn sync_until_ok(cli: &Cli, attempts: usize) -> Run {
    let mut failures = Vec::new();
    for _ in 0..attempts {
        let run = cli.run(["sync"]);
        if run.code == Some(0) {
            return run;
        }
        assert!(
            run.code.is_some() && run.code != Some(101) && !run.stderr.contains("panicked"),
            "sync crashed ({:?}):\n{}",
            run.code,
            run.stderr
        );
        failures.push(run.stderr);
    }
    panic!(
        "sync did not succeed in {attempts} attempts:\n{}",
        failures.join("\n---\n")
    );
}

/// (sent, received) from sync's "Sent N changes, received M changes." line.
pub(crate) fn sent_received(stdout: &str) -> (usize, usize) {
    let line = stdout
        .lines()
        .find(|l| l.starts_with("Sent "))
        .unwrap_or_else(|| panic!("no \"Sent ...\" line in {stdout:?}"));
    let numbers: Vec<usize> = line
        .split(|c: char| !c.is_ascii_digit())
        .filter(|w| !w.is_empty())
        .map(|w| w.parse().expect("digits"))
        .collect();
    match numbers.as_slice() {
        [sent, received] => (*sent, *received),
        _ => panic!("unexpected sync summary {line:?}"),
    }
}

/// The id of one activity row of `list --json`.
pub(crate) fn row_id(row: &Value) -> String {
    row["id"]
        .as_str()
        .unwrap_or_else(|| panic!("a row without an id: {row}"))
        .to_owned()
}

/// Rows of `list --json` by id, asserting no id appears twice.
pub(crate) fn by_id(rows: Vec<Value>) -> BTreeMap<String, Value> {
    let mut map = BTreeMap::new();
    for row in rows {
        let id = row_id(&row);
        if let Some(earlier) = map.insert(id.clone(), row) {
            panic!("activity {id} is listed twice (first: {earlier})");
        }
    }
    map
}

/// `status --json` field `unsent`.
pub(crate) fn unsent(cli: &Cli) -> u64 {
    let status = cli.status_json();
    status["unsent"]
        .as_u64()
        .unwrap_or_else(|| panic!("status has no unsent count: {status}"))
}

/// `show ID --json`, parsed.
pub(crate) fn show(cli: &Cli, id: &str) -> Value {
    serde_json::from_str(&cli.ok(["show", id, "--json"])).expect("show --json prints JSON")
}

/// Imports `n` activities (with longer descriptions, so transfers take a
/// while on a slow link); returns their ids.
pub(crate) fn import_many(cli: &Cli, n: usize, title: &str) -> BTreeSet<String> {
    let rows: Vec<Value> = (0..n)
        .map(|k| {
            json!({
                "id": Uuid::new_v4().to_string(),
                "title": format!("{title} {k}: ģimeņu un skolotāju sadarbība"),
                "kind": "seminar",
                "date": format!("2026-{:02}-{:02}", 1 + k % 12, 1 + k % 28),
                "teachers": k % 30,
                "description": format!("{k}. Čaklās rokas, ķiploku ziepes un šūšana Latgalē. ").repeat(8),
            })
        })
        .collect();
    let path = cli.file("imports.json");
    std::fs::write(&path, serde_json::to_string(&rows).expect("json")).expect("write");
    cli.ok([std::ffi::OsStr::new("import"), path.as_os_str()]);
    rows.iter()
        .map(|r| r["id"].as_str().expect("id").to_owned())
        .collect()
}

/// Reads `stream` line by line on a thread: each line goes to `on_line`, then
/// to the returned channel (whose receiver may be gone: then only `on_line`
/// sees it).
pub(crate) fn follow_lines(
    stream: impl std::io::Read + Send + 'static,
    mut on_line: impl FnMut(&str) + Send + 'static,
) -> Receiver<String> {
    let (tx, lines) = channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stream).lines() {
            let Ok(line) = line else { break };
            on_line(&line);
            let _ = tx.send(line);
        }
    });
    lines
}

/// Waits (at most [`LINE_TIMEOUT`]) for the next line containing `needle`
/// from `who`; says why not otherwise.
pub(crate) fn wait_for_line(
    lines: &Receiver<String>,
    needle: &str,
    who: &str,
) -> Result<String, String> {
    let deadline = Instant::now() + LINE_TIMEOUT;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match lines.recv_timeout(left) {
            Ok(line) if line.contains(needle) => return Ok(line),
            Ok(_) => {}
            Err(RecvTimeoutError::Timeout) => {
                return Err(format!(
                    "{who} printed no line with {needle:?} in {LINE_TIMEOUT:?}"
                ));
            }
            Err(RecvTimeoutError::Disconnected) => {
                return Err(format!("{who} exited without printing {needle:?}"));
            }
        }
    }
}

/// A plain HTTP GET (of the local app): the status line and the body.
pub(crate) fn http_get(url: &str) -> (String, Vec<u8>) {
    http_exchange(url, |host, path| {
        format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n")
    })
}

/// Posts a form (`fields`, URL-encoded) to the app as its own page would
/// (same origin); the response's status line and body.
pub(crate) fn http_post(url: &str, fields: &[(&str, &str)]) -> (String, Vec<u8>) {
    let body = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(fields)
        .finish();
    http_exchange(url, |host, path| {
        format!(
            "POST {path} HTTP/1.1\r\nHost: {host}\r\nOrigin: http://{host}\r\n\
             Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\
             Connection: close\r\n\r\n{body}",
            body.len()
        )
    })
}

/// Sends the request `head` makes of the URL's host and path; the response's
/// status line and body.
fn http_exchange(url: &str, head: impl FnOnce(&str, &str) -> String) -> (String, Vec<u8>) {
    use std::io::{Read, Write};
    let rest = url.strip_prefix("http://").expect("an http URL");
    let (host, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let mut stream = std::net::TcpStream::connect(host).expect("connect to the app");
    stream
        .write_all(head(host, path).as_bytes())
        .expect("request");
    let mut response = Vec::new();
    stream.read_to_end(&mut response).expect("response");
    let split = response
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("headers end");
    let head = String::from_utf8_lossy(&response[..split]);
    let status = head.lines().next().unwrap_or("").to_owned();
    (status, response[split + 4..].to_vec())
}

/// The app's address (without the trailing `/`) from the stdout lines of a
/// `field-client run` started by [`start_daemon`].
pub(crate) fn app_url(stdout: &Receiver<String>) -> String {
    let line = wait_for_line(stdout, "The app is at", "field-client run")
        .unwrap_or_else(|e| panic!("{e}"));
    line.split_whitespace()
        .find(|w| w.starts_with("http://"))
        .expect("the app's address")
        .trim_end_matches('/')
        .to_owned()
}

/// A `field-client run` process, stopped when the test ends, however it ends.
pub(crate) struct Daemon(pub(crate) Child);

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `field-client run ARGS` for `cli`; its stdout and stderr lines
/// (stderr also echoed to the test's output).
pub(crate) fn start_daemon(
    cli: &tests::Cli,
    args: &[&str],
) -> (Daemon, Receiver<String>, Receiver<String>) {
    let mut child = cli
        .command(std::iter::once("run").chain(args.iter().copied()))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start field-client run");
    let stdout = follow_lines(child.stdout.take().expect("piped"), |_| {});
    let stderr = follow_lines(child.stderr.take().expect("piped"), |line| {
        eprintln!("[field-client run] {line}");
    });
    (Daemon(child), stdout, stderr)
}
