//! A `relay` process for examples and benches that manage their own data
//! folder (the integration tests' `Relay` in `tests/tests/common` adds
//! restarts, logs and backups on top).

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};

use crate::relay_bin;

/// `relay --data-dir DIR ARGS` to its end; its standard output, trimmed.
pub fn admin(dir: &Path, args: &[&str]) -> String {
    admin_on(dir, None, args)
}

/// [`admin`] of a relay keeping its data in `store` (a PostgreSQL address;
/// `None`: its data folder).
pub fn admin_on(dir: &Path, store: Option<&str>, args: &[&str]) -> String {
    let mut command = Command::new(relay_bin());
    command
        .arg("--data-dir")
        .arg(dir)
        .args(args)
        .env_remove("RELAY_DATA_DIR");
    on_store(&mut command, store);
    let output = command.output().expect("run relay");
    assert!(
        output.status.success(),
        "relay {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout)
        .expect("utf-8")
        .trim()
        .to_owned()
}

/// `relay serve` on a free loopback port, once it listens.
pub fn spawn(dir: &Path) -> Child {
    spawn_on(dir, None)
}

/// [`spawn`] on `store` (a PostgreSQL address; `None`: its data folder).
pub fn spawn_on(dir: &Path, store: Option<&str>) -> Child {
    let mut command = Command::new(relay_bin());
    command
        .arg("--data-dir")
        .arg(dir)
        .args(["serve", "--listen", "127.0.0.1:0"])
        .env_remove("RELAY_DATA_DIR")
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    on_store(&mut command, store);
    let mut child = command.spawn().expect("start relay");
    let mut first = String::new();
    BufReader::new(child.stdout.take().expect("piped"))
        .read_line(&mut first)
        .expect("read the relay's first line");
    assert!(first.starts_with("relay listening on"), "relay: {first:?}");
    child
}

fn on_store(command: &mut Command, store: Option<&str>) {
    match store {
        Some(url) => command.env("RELAY_STORE", url),
        None => command.env_remove("RELAY_STORE"),
    };
}

/// Stops the relay as an administrator does (SIGTERM), so its files close
/// cleanly. Unix only.
pub fn stop(relay: &mut Child) {
    let status = Command::new("kill")
        .args(["-TERM", &relay.id().to_string()])
        .status()
        .expect("run kill");
    assert!(status.success());
    assert!(relay.wait().expect("wait").success(), "relay stopped badly");
}
