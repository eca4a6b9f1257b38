//! `relay serve --config relay.toml` (docs/OPERATIONS.md): the file's
//! settings are used, flags override them, a bad file stops the relay with
//! the file's line and makes nothing, and `log_format = "json"` writes one
//! JSON object per log line; the limits it sets are the ones kept.

mod common;

use std::io::{BufRead, BufReader};
use std::net::UdpSocket;
use std::process::{Command, Stdio};

use common::{LINE_TIMEOUT, follow_lines, wait_for_line};

/// A free loopback UDP port, for a listen address written into a file.
fn free_port() -> u16 {
    let socket = UdpSocket::bind("127.0.0.1:0").expect("a free port");
    socket.local_addr().expect("its address").port()
}

/// `relay serve ARGS` (no `RELAY_DATA_DIR`); the child with piped output.
fn serve(args: &[&str]) -> std::process::Child {
    Command::new(tests::relay_bin())
        .arg("serve")
        .args(args)
        .env_remove("RELAY_DATA_DIR")
        .env("RUST_LOG", "info")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("cannot start relay")
}

/// The address of the first stdout line, `relay listening on ADDR key …`.
fn listening_on(child: &mut std::process::Child) -> String {
    let mut first = String::new();
    BufReader::new(child.stdout.as_mut().expect("stdout is piped"))
        .read_line(&mut first)
        .expect("read the relay's stdout");
    let words: Vec<&str> = first.split_whitespace().collect();
    match words.as_slice() {
        ["relay", "listening", "on", addr, "key", _] => (*addr).to_owned(),
        _ => panic!("unexpected first line: {first:?}"),
    }
}

fn stop(mut child: std::process::Child) {
    let _ = child.kill();
    let _ = child.wait();
}

#[test]
fn the_files_settings_are_used_and_flags_override_them() {
    let dir = tempfile::tempdir().expect("a folder");
    let data = dir.path().join("from-the-file");
    let (port_in_file, port_in_flag) = (free_port(), free_port());
    let config = dir.path().join("relay.toml");
    std::fs::write(
        &config,
        format!(
            "listen = \"127.0.0.1:{port_in_file}\"\npublic_address = \"relay.example.lv:4433\"\n\
             data_dir = {data:?}\n[limits]\nmax_connections = 50\n"
        ),
    )
    .expect("write the file");
    let config = config.to_str().expect("a UTF-8 path");

    // The file alone: its listen address, data folder and public address.
    let mut child = serve(&["--config", config]);
    assert_eq!(
        listening_on(&mut child),
        format!("127.0.0.1:{port_in_file}")
    );
    stop(child);
    assert!(
        data.join("registry.redb").exists(),
        "not the file's data_dir"
    );
    assert_eq!(
        std::fs::read_to_string(data.join("public-address")).expect("public-address"),
        "relay.example.lv:4433"
    );

    // Flags win over the file.
    let flagged = dir.path().join("from-the-flag");
    let mut child = Command::new(tests::relay_bin())
        .arg("--data-dir")
        .arg(&flagged)
        .args(["serve", "--config", config])
        .args(["--listen", &format!("127.0.0.1:{port_in_flag}")])
        .args(["--public-address", "other.example.lv:5000"])
        .env_remove("RELAY_DATA_DIR")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("cannot start relay");
    assert_eq!(
        listening_on(&mut child),
        format!("127.0.0.1:{port_in_flag}")
    );
    stop(child);
    assert_eq!(
        std::fs::read_to_string(flagged.join("public-address")).expect("public-address"),
        "other.example.lv:5000"
    );
}

#[test]
fn a_bad_file_stops_the_relay_with_its_line_and_makes_nothing() {
    let dir = tempfile::tempdir().expect("a folder");
    let data = dir.path().join("relay-data");
    for (text, line, words) in [
        (
            "listen = \"127.0.0.1:0\"\n\n[limits]\nmax_conections = 5\n",
            4,
            "unknown field `max_conections`",
        ),
        (
            "log_format = \"text\"\nlisten = \"localhost\"\n",
            2,
            "invalid socket address",
        ),
        (
            "[limits]\nmax_connections = 20000\n",
            2,
            "max_connections must be from 1 to 10000",
        ),
    ] {
        let config = dir.path().join("relay.toml");
        std::fs::write(&config, text).expect("write the file");
        let output = Command::new(tests::relay_bin())
            .arg("--data-dir")
            .arg(&data)
            .args(["serve", "--config"])
            .arg(&config)
            .env_remove("RELAY_DATA_DIR")
            .stdin(Stdio::null())
            .output()
            .expect("run relay");
        assert!(!output.status.success(), "served with {text:?}");
        let told = String::from_utf8_lossy(&output.stderr);
        assert!(
            told.contains(&format!("relay.toml, line {line}: ")) && told.contains(words),
            "expected line {line} and {words:?}: {told}"
        );
        assert!(!told.contains("panicked"), "{told}");
        assert!(!data.exists(), "a bad file made the data folder");
    }
}

#[test]
fn json_logs_are_one_object_per_line() {
    let dir = tempfile::tempdir().expect("a folder");
    let config = dir.path().join("relay.toml");
    std::fs::write(&config, "listen = \"127.0.0.1:0\"\nlog_format = \"json\"\n").expect("write");
    let mut child = Command::new(tests::relay_bin())
        .arg("--data-dir")
        .arg(dir.path().join("relay-data"))
        .args(["serve", "--config"])
        .arg(&config)
        .env_remove("RELAY_DATA_DIR")
        .env("RUST_LOG", "info")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("cannot start relay");
    let lines = follow_lines(child.stderr.take().expect("stderr is piped"), |_| {});
    let serving = wait_for_line(&lines, "serving", "the relay")
        .unwrap_or_else(|why| panic!("{why} within {LINE_TIMEOUT:?}"));
    let object: serde_json::Value =
        serde_json::from_str(&serving).unwrap_or_else(|e| panic!("not JSON ({e}): {serving}"));
    assert_eq!(object["level"], "INFO", "{object}");
    assert_eq!(object["fields"]["message"], "serving", "{object}");
    assert!(object["fields"]["data"].is_string(), "{object}");
    stop(child);
}

/// The limits in the file are the ones the relay keeps: with room for one
/// connection, a second device is turned away while the first is
/// connected, and syncs once it has gone.
#[test]
fn the_files_limits_are_kept() {
    let dir = tempfile::tempdir().expect("a folder");
    let config = dir.path().join("relay.toml");
    std::fs::write(&config, "[limits]\nmax_connections = 1\n").expect("write the file");
    let relay = common::Relay::start_with(&["--config", config.to_str().expect("UTF-8")]);
    let centre = relay.add_centre("Zilupes KRC");
    let first = common::device("Zilupes KRC", "Bibliotēka");
    let second = common::device("Zilupes KRC", "Skola");
    common::enrol(&first, &relay.centre_code(centre));
    common::enrol(&second, &relay.centre_code(centre));
    second.add([
        "--title",
        "Gaida vietu",
        "--kind",
        "meeting",
        "--date",
        "2026-12-07",
    ]);

    common::raw::block_on(async {
        // The relay counts a connection from its first packet: once the
        // handshake is done, the one place is taken.
        let holder =
            common::raw::RawClient::connect(first.data_dir(), relay.addr(), relay.fingerprint())
                .await;
        // Told in the volunteer's language.
        let turned_away = second
            .command(["sync"])
            .env("LANG", "lv_LV.UTF-8")
            .output()
            .expect("sync");
        let said = String::from_utf8_lossy(&turned_away.stderr);
        assert!(!turned_away.status.success(), "{said}");
        assert!(
            said.contains("biroja serveris šobrīd ir aizņemts"),
            "{said}"
        );
        assert_eq!(common::unsent(&second), 1, "nothing counted as sent");
        holder.close().await;
    });
    common::sync_ok(&second);
    assert_eq!(common::unsent(&second), 0);
}
