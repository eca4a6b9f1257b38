//! A `relay` process for examples and benches that manage their own data
//! folder (the integration tests' `Relay` in `tests/tests/common` adds
//! restarts, logs and backups on top).

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};

use crate::relay_bin;

/// `relay --data-dir DIR ARGS` to its end; its standard output, trimmed.
pub fn admin(dir: &Path, args: &[&str]) -> String {
    let output = Command::new(relay_bin())
        .arg("--data-dir")
        .arg(dir)
        .args(args)
        .env_remove("RELAY_DATA_DIR")
        .output()
        .expect("run relay");
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
    let mut child = Command::new(relay_bin())
        .arg("--data-dir")
        .arg(dir)
        .args(["serve", "--listen", "127.0.0.1:0"])
        .env_remove("RELAY_DATA_DIR")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start relay");
    let mut first = String::new();
    BufReader::new(child.stdout.take().expect("piped"))
        .read_line(&mut first)
        .expect("read the relay's first line");
    assert!(first.starts_with("relay listening on"), "relay: {first:?}");
    child
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
