//! What the relay benches share: the real `relay` binary on a data folder the
//! bench filled, devices registered straight in the registry, and a device's
//! sync session over QUIC on in-memory journals, timed.

// Each bench uses only some of these.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use chrono::Utc;
use relay::registry::Registry;
use relay::server::RELAY_IDENTITY_STEM;
use relay::tls::{self, Fingerprint, Identity};
use relay::transport;
use sync_core::journal::Stamp;
use sync_core::sync::memory::MemoryJournals;
use sync_core::sync::wire::FrameBuffer;
use sync_core::sync::{ClientEvent, ClientSession, Frame};
use sync_core::{ActivityId, ActivityInput, ActivityPatch, Journal};
use uuid::Uuid;

/// A realistic activity (about 900 bytes as JSON), numbered `i`.
pub(crate) fn activity(i: usize) -> ActivityPatch {
    ActivityInput {
        title: Some(format!("Skolotāja loma kopienas attīstībā, nr. {i}")),
        kind: Some("seminar".into()),
        date: Some(format!("2026-{:02}-{:02}", 1 + i % 12, 1 + i % 28)),
        start: Some("14:00".into()),
        hours: Some("2".into()),
        place: Some("Daugavpils, Smilšu iela 92".into()),
        organisers: Some(vec!["Inese Kalniņa".into()]),
        institutions: Some(vec![format!("{}.PII", i % 60), "13.vsk".into()]),
        counts: vec![
            ("teachers".into(), format!("{}", i % 30)),
            ("parents".into(), format!("{}", i % 7)),
        ],
        description: Some(
            "Dalībnieki apsprieda skolas un ģimenes sadarbību un vietējās kopienas iniciatīvas."
                .into(),
        ),
        ..ActivityInput::default()
    }
    .parse()
    .expect("valid")
}

/// Records `n` activities into `journal` (as its actor), one change each.
pub(crate) fn record(journal: &mut Journal, n: usize, first: usize) -> Vec<automerge::Change> {
    let stamp = Stamp {
        author: "bench",
        now: Utc::now(),
    };
    (first..first + n)
        .map(|i| {
            journal
                .create(ActivityId::new_random(), &activity(i), stamp)
                .expect("create")
        })
        .collect()
}

/// Makes the relay's identity, as `relay serve` does on first start.
pub(crate) fn relay_identity(dir: &Path) {
    Identity::load_or_create(dir, RELAY_IDENTITY_STEM, "krc-relay").expect("relay identity");
}

/// Registers a device of `centre` (`None`: the office) straight in the
/// registry; its id (also its Automerge actor) and key.
pub(crate) fn register(registry: &Registry, centre: Option<Uuid>, name: &str) -> (Uuid, Identity) {
    let identity = Identity::generate(name).expect("identity");
    let until = Utc::now() + chrono::Duration::hours(1);
    let secret = registry.new_enrol_secret(centre, until).expect("secret");
    let device = Uuid::new_v4();
    registry
        .enrol(&secret, device, name, identity.fingerprint(), Utc::now())
        .expect("enrol");
    (device, identity)
}

/// The real relay binary serving `dir`.
pub(crate) struct RelayProcess {
    pub(crate) child: Child,
    pub(crate) addr: SocketAddr,
    pub(crate) pinned: Fingerprint,
}

impl RelayProcess {
    /// Where devices reach it, and its key.
    pub(crate) fn at(&self) -> (SocketAddr, Fingerprint) {
        (self.addr, self.pinned)
    }

    pub(crate) fn start(dir: &Path) -> RelayProcess {
        let mut child = Command::new(env!("CARGO_BIN_EXE_relay"))
            .args(["--data-dir"])
            .arg(dir)
            .args(["serve", "--listen", "127.0.0.1:0"])
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start relay");
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("stdout"))
            .read_line(&mut line)
            .expect("serve line");
        let words: Vec<&str> = line.split_whitespace().collect();
        RelayProcess {
            child,
            addr: words[3].parse().expect("address"),
            pinned: words[5].parse().expect("fingerprint"),
        }
    }

    /// CPU time the relay process has used so far (user and system).
    pub(crate) fn cpu(&self) -> Duration {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.child.id()))
            .expect("read /proc stat");
        // Fields after the command name (which is in parentheses).
        let rest = stat.rsplit_once(')').expect("a stat line").1;
        let fields: Vec<&str> = rest.split_whitespace().collect();
        let ticks: u64 =
            fields[11].parse::<u64>().expect("utime") + fields[12].parse::<u64>().expect("stime");
        // Linux reports in clock ticks of 1/100 s.
        Duration::from_millis(ticks * 10)
    }

    /// Resident memory now, and at its peak, in KiB.
    pub(crate) fn memory_kib(&self) -> (u64, u64) {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .expect("read /proc status");
        let field = |name: &str| -> u64 {
            status
                .lines()
                .find_map(|l| l.strip_prefix(name))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
                .expect("a memory line")
        };
        (field("VmRSS:"), field("VmHWM:"))
    }
}

impl Drop for RelayProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A device's connection to the relay at `addr` whose key is `pinned`.
pub(crate) async fn connect(
    endpoint: &quinn::Endpoint,
    identity: &Identity,
    (addr, pinned): (SocketAddr, Fingerprint),
) -> quinn::Connection {
    let config = tls::client_config(identity, pinned).expect("client config");
    transport::connect(endpoint, config, addr)
        .await
        .expect("connect")
}

/// How long one sync session took, from its first frame sent.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Timed {
    /// Until the relay's first `Ack` arrived (a session that sent nothing has none).
    pub(crate) to_ack: Option<Duration>,
    /// Until the session was idle: everything sent and received.
    pub(crate) total: Duration,
}

/// Runs one session on a new stream of `conn` until idle (in sync); `until`
/// stops it earlier, at the first event it accepts.
pub(crate) async fn session(
    conn: &quinn::Connection,
    storage: &mut MemoryJournals,
    wanted: Vec<Uuid>,
    until: impl Fn(&ClientEvent) -> bool,
) -> Timed {
    let (mut send, mut recv) = conn.open_bi().await.expect("stream");
    let mut session = ClientSession::new(Instant::now(), "bench", wanted, storage);
    let started = Instant::now();
    // A copy of the byte stream, to see the `Ack` arrive before the session
    // spends any time on it.
    let mut peek = FrameBuffer::default();
    let mut timed = Timed::default();
    loop {
        while let Some(bytes) = session.poll_transmit() {
            transport::write_all(&mut send, &bytes)
                .await
                .expect("write");
        }
        while let Some(event) = session.poll_event() {
            match event {
                ClientEvent::Closed { reason } => panic!("session closed: {reason}"),
                ClientEvent::Idle => {
                    timed.total = started.elapsed();
                    let _ = send.finish();
                    return timed;
                }
                other if until(&other) => {
                    timed.total = started.elapsed();
                    return timed;
                }
                _ => {}
            }
        }
        let bytes = transport::read_chunk(&mut recv)
            .await
            .expect("read")
            .expect("stream open");
        peek.extend(&bytes);
        while let Ok(Some(frame)) = peek.next_frame() {
            if matches!(frame, Frame::Ack { .. }) && timed.to_ack.is_none() {
                timed.to_ack = Some(started.elapsed());
            }
        }
        session.handle_bytes(Instant::now(), &bytes, storage);
    }
}

/// The `p`-th percentile (0–100) of `times`, sorted in place.
pub(crate) fn percentile(times: &mut [Duration], p: usize) -> Duration {
    times.sort_unstable();
    let rank = (times.len() * p).div_ceil(100).max(1) - 1;
    times[rank.min(times.len() - 1)]
}

pub(crate) fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}
