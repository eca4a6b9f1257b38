//! `field-client` as installed software: the systemd user service and its
//! menu entry, `run` stopping cleanly on SIGTERM, and `open` starting the
//! app when it is not running. Linux only: the service is systemd's, the
//! stop is a Unix signal.
#![cfg(target_os = "linux")]

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use common::{Relay, device, enrol, start_daemon, wait_for_line};
use tests::Cli;

/// Longest a stopping `run` may take in these tests: a loopback frame and
/// a close take milliseconds; the bound only keeps a hang from stalling
/// the run.
const STOP_DEADLINE: Duration = Duration::from_secs(15);

/// A home of the test's own: systemd's folders in it, and a `systemctl`
/// that writes down what it was asked (the machine's service manager is
/// not the test's to change).
struct Home {
    dir: tempfile::TempDir,
}

impl Home {
    /// `systemctl` answers as a user session would, or fails with `fails`.
    fn new(fails: Option<&str>) -> Home {
        let dir = tempfile::tempdir().expect("temp home");
        let bin = dir.path().join("bin");
        std::fs::create_dir_all(&bin).expect("bin");
        let script = match fails {
            None => format!(
                "#!/bin/sh\necho \"$@\" >> '{log}'\n\
                 case \"$2\" in is-enabled) echo enabled;; is-active) echo active;; esac\n",
                log = dir.path().join("systemctl.log").display()
            ),
            Some(said) => format!("#!/bin/sh\necho '{said}' >&2\nexit 1\n"),
        };
        let systemctl = bin.join("systemctl");
        std::fs::write(&systemctl, script).expect("systemctl");
        let mode = std::os::unix::fs::PermissionsExt::from_mode(0o755);
        std::fs::set_permissions(&systemctl, mode).expect("chmod");
        Home { dir }
    }

    fn path(&self, rest: &str) -> PathBuf {
        self.dir.path().join(rest)
    }

    /// `field-client ARGS` for `cli`, in this home.
    fn run(&self, cli: &Cli, args: &[&str]) -> std::process::Output {
        self.run_in("C.UTF-8", cli, args)
    }

    /// [`Home::run`] on a system in `lang`.
    fn run_in(&self, lang: &str, cli: &Cli, args: &[&str]) -> std::process::Output {
        let path = format!(
            "{}:{}",
            self.path("bin").display(),
            std::env::var("PATH").unwrap_or_default()
        );
        cli.command(args)
            .env("HOME", self.dir.path())
            .env("XDG_CONFIG_HOME", self.path("config"))
            .env("XDG_DATA_HOME", self.path("share"))
            .env("PATH", path)
            .env("LANG", lang)
            .output()
            .expect("field-client runs")
    }

    fn systemctl_calls(&self) -> String {
        std::fs::read_to_string(self.path("systemctl.log")).unwrap_or_default()
    }
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn the_service_is_installed_accepted_by_systemd_and_removed_without_the_journal() {
    let home = Home::new(None);
    let cli = Cli::init("Ludzas KRC");
    let id = cli.add([
        "--title",
        "Rokdarbi",
        "--kind",
        "workshop",
        "--date",
        "2026-03-03",
    ]);
    let installed = home.run(&cli, &["service", "install"]);
    assert!(installed.status.success(), "{}", text(&installed.stderr));
    let unit_path = home.path("config/systemd/user/krc-field-client.service");
    let unit = std::fs::read_to_string(&unit_path).expect("the unit is written");
    let exe = tests::field_client_bin();
    let data = std::path::absolute(cli.data_dir()).expect("absolute");
    assert!(
        unit.contains(&format!(
            "ExecStart=\"{}\" --data-dir \"{}\" run\n",
            exe.display(),
            data.display()
        )),
        "{unit}"
    );
    let entry = std::fs::read_to_string(home.path("share/applications/krc-zurnals.desktop"))
        .expect("the menu entry is written");
    assert!(entry.contains("Name=KRC žurnāls\n"), "{entry}");
    assert!(entry.contains("\" open\n"), "{entry}");
    assert_eq!(
        home.systemctl_calls(),
        "--user daemon-reload\n--user enable --now krc-field-client.service\n"
    );
    systemd_accepts(&unit_path, &home);

    let status = home.run(&cli, &["service", "status"]);
    let said = text(&status.stdout);
    assert!(said.contains(&unit_path.display().to_string()), "{said}");
    assert!(said.contains("At login:      enabled"), "{said}");
    assert!(said.contains("Running:       active"), "{said}");

    let removed = home.run(&cli, &["service", "uninstall"]);
    assert!(removed.status.success(), "{}", text(&removed.stderr));
    assert!(!unit_path.exists() && !home.path("share/applications/krc-zurnals.desktop").exists());
    assert!(
        home.systemctl_calls()
            .ends_with("--user disable --now krc-field-client.service\n--user daemon-reload\n"),
        "{}",
        home.systemctl_calls()
    );
    assert_eq!(
        cli.list_json(&[])[0]["id"],
        id.as_str(),
        "the journal stays"
    );
}

/// `systemd-analyze verify --user` loads the unit as the user's manager
/// would, checks its keys and that its program exists.
fn systemd_accepts(unit: &Path, home: &Home) {
    let runtime = home.path("runtime");
    std::fs::create_dir_all(&runtime).expect("runtime dir");
    let verify = Command::new("systemd-analyze")
        .args(["verify", "--user"])
        .arg(unit)
        .env("XDG_RUNTIME_DIR", &runtime)
        .env("XDG_CONFIG_HOME", home.path("config"))
        .output()
        .expect("systemd-analyze (Debian's systemd package; .ci/test installs it)");
    assert!(
        verify.status.success() && verify.stderr.is_empty(),
        "systemd-analyze verify: {}",
        text(&verify.stderr)
    );
}

#[test]
fn a_service_manager_that_refuses_is_told_plainly() {
    let home = Home::new(Some("Failed to connect to bus: No medium found"));
    let cli = Cli::init("Ludzas KRC");
    let installed = home.run(&cli, &["service", "install"]);
    assert_eq!(installed.status.code(), Some(1));
    let said = text(&installed.stderr);
    assert!(
        said.contains("`systemctl --user daemon-reload` failed: Failed to connect to bus"),
        "{said}"
    );
    let latvian = home.run_in("lv_LV.UTF-8", &cli, &["service", "install"]);
    let said = text(&latvian.stderr);
    assert!(
        said.contains("`systemctl --user daemon-reload` neizdevās: Failed to connect to bus"),
        "{said}"
    );
}

#[test]
fn run_stops_on_sigterm_after_saying_goodbye_to_the_relay() {
    stops_on(rustix::process::Signal::TERM);
}

/// Ctrl-C in a terminal, or `kill -INT`: the same clean stop.
#[test]
fn run_stops_on_sigint_after_saying_goodbye_to_the_relay() {
    stops_on(rustix::process::Signal::INT);
}

/// `field-client run`, syncing, asked to stop by `signal`: it closes the
/// connection politely, exits 0, and what it sent stays acknowledged.
fn stops_on(signal: rustix::process::Signal) {
    let relay = Relay::start();
    let centre = relay.add_centre("Ludzas KRC");
    let cli = device("Ludzas KRC", "Ludzas laptop");
    enrol(&cli, &relay.centre_code(centre));
    let (mut daemon, _stdout, stderr) = start_daemon(&cli, &["--no-web"]);
    wait_for_line(&stderr, "in the background", "field-client run").expect("run syncs");
    relay.wait_for_log("device connected");
    cli.add([
        "--title",
        "Pirms beigām",
        "--kind",
        "seminar",
        "--date",
        "2026-03-03",
    ]);
    wait_for_line(&stderr, "the office server stored", "field-client run").expect("sent");

    stops_politely(&mut daemon.0, signal, &relay);
    assert_eq!(common::unsent(&cli), 0, "what was sent stays acknowledged");
}

/// Sends `signal` to a running `run`: it exits 0 within [`STOP_DEADLINE`],
/// and the relay logs the device's own close.
fn stops_politely(run: &mut std::process::Child, signal: rustix::process::Signal, relay: &Relay) {
    rustix::process::kill_process(rustix::process::Pid::from_child(run), signal).expect("signal");
    let status = wait_timeout::ChildExt::wait_timeout(run, STOP_DEADLINE)
        .expect("wait")
        .unwrap_or_else(|| panic!("run stops on {signal:?} within {STOP_DEADLINE:?}"));
    assert_eq!(status.code(), Some(0), "run exits 0 when asked to stop");
    let goodbye = relay.wait_for_log("device disconnected");
    assert!(goodbye.contains("closed by peer"), "{goodbye}");
}

/// Activities waiting to go when `run` is stopped mid-upload: enough that
/// the upload is many batches long (an import writes 100 per change; the
/// relay takes a few thousand per batch).
const UPLOADING: usize = 8_000;

/// `run` stopped while it uploads a long backlog: the frames it wrote reach
/// the relay whole (the relay reads no frame cut short, logs no session
/// error), it closes politely and exits 0, and the next sync sends the rest:
/// everything arrives once.
#[test]
fn run_stopped_mid_upload_finishes_its_frames_and_the_rest_follows() {
    let relay = Relay::start();
    let centre = relay.add_centre("Ludzas KRC");
    let cli = device("Ludzas KRC", "Ludzas laptop");
    enrol(&cli, &relay.centre_code(centre));
    let ids = common::import_many(&cli, UPLOADING, "Pārtraukts");
    let (mut daemon, _stdout, stderr) = start_daemon(&cli, &["--no-web"]);
    // The first batches are stored: the upload is under way.
    wait_for_line(&stderr, "the office server stored", "field-client run").expect("uploading");
    stops_politely(&mut daemon.0, rustix::process::Signal::TERM, &relay);
    let left = common::unsent(&cli);
    assert!(
        left > 0,
        "the stop came after the whole upload: nothing was in flight"
    );
    let session_errors: Vec<String> = relay
        .log()
        .into_iter()
        .filter(|line| line.contains("WARN") || line.contains("ERROR"))
        .collect();
    assert!(
        session_errors.is_empty(),
        "the relay saw the stop as an error: {session_errors:#?}"
    );

    common::sync_ok(&cli);
    assert_eq!(common::unsent(&cli), 0, "the rest was sent");
    let office = device("IIC birojs", "office");
    enrol(&office, &relay.office_code());
    common::sync_ok(&office);
    let arrived: std::collections::BTreeSet<String> = office
        .list_json(&["--all-centres"])
        .iter()
        .map(common::row_id)
        .collect();
    assert_eq!(arrived, ids, "every activity arrived, once");
}

#[test]
fn open_starts_the_app_when_it_is_not_running() {
    let cli = Cli::init("Ludzas KRC");
    let home = Home::new(None);
    let path = format!(
        "{}:{}",
        home.path("bin").display(),
        std::env::var("PATH").unwrap_or_default()
    );
    // `true` stands in for the browser: the test needs only its address.
    let opened = cli
        .command(["open"])
        .env("BROWSER", "true")
        // Any free port: the default one may be taken on this machine.
        .env("FIELD_CLIENT_WEB_PORT", "0")
        .env("XDG_CONFIG_HOME", home.path("config"))
        .env("PATH", path)
        .stdin(Stdio::null())
        .output()
        .expect("open");
    let _stop = StopRuns(cli.data_dir().to_owned());
    assert!(opened.status.success(), "{}", text(&opened.stderr));
    let url = text(&opened.stdout).trim().to_owned();
    let (status, page) = common::http_get(&format!("{}/", url.trim_end_matches('/')));
    assert!(status.contains("200"), "{status}");
    assert!(text(&page).contains("Ludzas KRC"));
    assert_eq!(
        home.systemctl_calls(),
        "",
        "no service installed: none asked"
    );
    // Open again: the running app is found, not started twice.
    let again = cli
        .command(["open"])
        .env("BROWSER", "true")
        .output()
        .expect("open");
    assert_eq!(text(&again.stdout).trim(), url);
    assert_eq!(runs_on(cli.data_dir()).len(), 1);
}

/// Stops every `field-client run` on the folder when the test ends.
struct StopRuns(PathBuf);

impl Drop for StopRuns {
    fn drop(&mut self) {
        for pid in runs_on(&self.0) {
            let _ = rustix::process::kill_process(pid, rustix::process::Signal::TERM);
        }
    }
}

/// The `field-client run` processes started on `data_dir` (by `open`, in a
/// process group of their own), from /proc.
fn runs_on(data_dir: &Path) -> Vec<rustix::process::Pid> {
    let wanted = data_dir.as_os_str().as_encoded_bytes();
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").expect("/proc").flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<i32>().ok())
        else {
            continue;
        };
        let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) else {
            continue;
        };
        let args: Vec<&[u8]> = cmdline.split(|b| *b == 0).collect();
        if args.contains(&wanted) && args.contains(&b"run".as_slice()) {
            found.extend(rustix::process::Pid::from_raw(pid));
        }
    }
    found
}
