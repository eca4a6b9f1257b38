//! The device's side of the network: enrolment, one sync, and the background
//! loop. Everything here moves bytes between a QUIC stream and the sans-IO
//! [`ClientSession`]; journals are read and written only through [`Replica`].

use std::net::{SocketAddr, ToSocketAddrs};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use relay::enrol_code::EnrolCode;
use relay::tls::{self, Fingerprint, Identity};
use relay::transport::{self, TransportError};
use serde::{Deserialize, Serialize};
use sync_core::store::{JournalId, Store, StoreError};
use sync_core::sync::wire::FrameBuffer;
use sync_core::sync::{
    ClientSession, ErrorCode, Frame, Role, SessionError, Update, VersionMismatch,
};
use sync_core::{Replica, ReplicaError};
use uuid::Uuid;

use crate::budget::{Bytes, Meter};
use crate::sync_loop;
pub use crate::sync_loop::Mode;

/// File stem of this device's key and certificate in its data folder.
pub const DEVICE_IDENTITY_STEM: &str = "device";

/// Time allowed to reach the relay. A mobile link that cannot complete a QUIC
/// handshake in this long is as good as down; the daemon retries later.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(20);

/// How long a stopping `run` waits for its connection's close to reach the
/// relay (QUIC's draining period: three probe timeouts, well under a
/// second on a working link). Without it the relay would keep the session
/// until its idle timeout; longer would hold up a shutdown.
pub const CLOSE_NOTICE_WAIT: Duration = Duration::from_secs(2);

/// How long a one-shot `sync` lets its close go out before the process
/// ends: sending the packet takes well under a millisecond; the rest of
/// QUIC's draining period (three probe timeouts, about 80 ms even on
/// loopback) would only slow every `sync` down. Should the packet not go
/// out in time, the relay ends the connection at its idle timeout instead.
pub const ONE_SHOT_CLOSE_WAIT: Duration = Duration::from_millis(10);

/// Longest one `field-client sync` may take. A 10,000-activity first sync at
/// 384 kbit/s takes about a minute; ten covers a much slower link, and a sync
/// that runs longer is better resumed by the next attempt.
pub const SYNC_COMMAND_TIMEOUT: Duration = Duration::from_secs(600);

/// Settings keys in the store.
const ENROLMENT_KEY: &str = "enrolment";
const SYNC_STATUS_KEY: &str = "sync_status";

/// What the device learnt at enrolment; kept in the store.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Enrolment {
    pub relay: String,
    pub fingerprint: String,
    pub office: bool,
    pub centre: String,
    pub journal: Uuid,
    pub enrolled_at: DateTime<Utc>,
}

/// The outcome of recent sync attempts, kept in the store for `status`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncStatus {
    pub last_success: Option<DateTime<Utc>>,
    pub last_attempt: Option<DateTime<Utc>>,
    /// Why the last attempt failed, in plain words in the system's
    /// language, as `status` shows it (None when it succeeded).
    pub last_error: Option<String>,
    /// Since when the relay has been unreachable (None when reachable).
    pub offline_since: Option<DateTime<Utc>>,
    /// The last attempt found this device revoked by the office.
    #[serde(default)]
    pub revoked: bool,
    /// The last attempt found the relay unable to store (its disk full).
    #[serde(default)]
    pub relay_unavailable: bool,
    /// The last attempt found that the relay speaks another protocol
    /// version: which program must be updated.
    #[serde(default)]
    pub update_needed: Option<Update>,
}

/// What one sync moved.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SyncReport {
    pub uploaded: usize,
    pub downloaded: usize,
    /// Attached files the relay now holds whole.
    pub files_sent: u64,
}

/// Why a sync or an enrolment did not complete, in plain words.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum NetError {
    #[error(
        "this device is not enrolled yet; enrol it with `field-client enrol CODE` (the office gives the code)"
    )]
    NotEnrolled,
    #[error("this device is already enrolled with {0}")]
    AlreadyEnrolled(String),
    #[error("cannot find the office server at \"{0}\"")]
    BadAddress(String),
    #[error("the office server did not answer within {0:?}; is there a connection?")]
    Unreachable(Duration),
    #[error("no connection to the office server: {0}")]
    Transport(#[from] TransportError),
    /// The relay's `Error` frame: its code, and its words (English).
    #[error("the office server refused: {message}")]
    Refused { code: ErrorCode, message: String },
    /// The relay answered something this program cannot read, or closed the
    /// connection instead of answering.
    #[error("the office server's answer could not be read: {0}")]
    UnreadableAnswer(String),
    /// The office replaced the centre's journal again while this device
    /// downloaded the new one (an erasure): the next sync starts over.
    #[error("the office server's journal changed during the download; trying again")]
    JournalChangedMeanwhile,
    /// This program could not write its request (a name too long, say).
    #[error("this program could not write its request: {0}")]
    Request(String),
    #[error("this device was revoked by the office; it can no longer sync")]
    Revoked,
    /// The relay cannot store now (its disk is full); it says so in words.
    #[error("{0}")]
    RelayUnavailable(String),
    /// The relay speaks another protocol version; the words say which
    /// program must be updated.
    #[error(transparent)]
    Version(VersionMismatch),
    #[error("the sync was interrupted: {0}")]
    Session(SessionError),
    #[error(transparent)]
    Replica(#[from] ReplicaError),
    #[error(transparent)]
    Tls(#[from] tls::TlsError),
    #[error(transparent)]
    Code(#[from] relay::enrol_code::EnrolCodeError),
    #[error(
        "the sync took longer than {0:?} and was stopped; it resumes where it stopped next time"
    )]
    TooSlow(Duration),
    #[error("the sync failed inside this program; nothing saved was lost (details: {0})")]
    Panicked(String),
    /// The process was asked to stop (SIGTERM, Ctrl-C) and did, between frames.
    #[error("the sync was stopped because the program is closing")]
    Stopped,
    #[error(
        "this month's data budget of {} is used up (or too little of it is left for the rest of \
         the sync), so syncing waits until the budget is raised (`field-client data-plan \
         --budget SIZE`) or the month ends; records are still saved on this computer",
        Bytes(*budget)
    )]
    BudgetSpent { budget: u64 },
}

pub fn enrolment(store: &Store) -> Result<Option<Enrolment>, ReplicaError> {
    Ok(store.setting(ENROLMENT_KEY)?)
}

pub fn sync_status(store: &Store) -> Result<SyncStatus, ReplicaError> {
    Ok(store.setting(SYNC_STATUS_KEY)?.unwrap_or_default())
}

/// Records the outcome of an attempt (best effort: a failure to record must
/// not hide the attempt's own outcome).
pub fn record_attempt(replica: &Replica, outcome: &Result<SyncReport, NetError>) {
    let now = Utc::now();
    let mut status = sync_status(replica.store()).unwrap_or_default();
    status.last_attempt = Some(now);
    status.revoked = matches!(outcome, Err(NetError::Revoked));
    status.relay_unavailable = matches!(outcome, Err(NetError::RelayUnavailable(_)));
    status.update_needed = match outcome {
        Err(NetError::Version(v)) => Some(v.update()),
        _ => None,
    };
    match outcome {
        Ok(_) => {
            status.last_success = Some(now);
            status.last_error = None;
            status.offline_since = None;
        }
        Err(e) => {
            status.last_error = Some(crate::words::net_error(crate::words::lang(), e));
            if matches!(e, NetError::Unreachable(_) | NetError::Transport(_)) {
                status.offline_since.get_or_insert(now);
            }
        }
    }
    if let Err(e) = replica.store().set_setting(SYNC_STATUS_KEY, &status) {
        eprintln!("warning: could not record the sync status: {e}");
    }
}

/// Keeps the relay's sync-health report (best effort: it is informative, and
/// the next sync brings a new one).
pub fn keep_health(replica: &Replica, devices: Vec<sync_core::sync::DeviceHealth>) {
    if let Err(e) = crate::health::record(replica.store(), devices, Utc::now()) {
        eprintln!("warning: could not keep the office server's sync-health report: {e}");
    }
}

/// Every address `address` names (a relay deployment may give two or more
/// by DNS), starting from a random one so that devices spread over them.
fn resolve(address: &str) -> Result<Vec<SocketAddr>, NetError> {
    let mut addrs: Vec<SocketAddr> = address
        .to_socket_addrs()
        .map_err(|_| NetError::BadAddress(address.to_owned()))?
        .collect();
    addrs.dedup();
    if addrs.is_empty() {
        return Err(NetError::BadAddress(address.to_owned()));
    }
    let start = (Uuid::new_v4().as_u128() % addrs.len() as u128) as usize;
    addrs.rotate_left(start);
    Ok(addrs)
}

/// Connects to the relay at `relay`: each address it names in turn, within
/// [`CONNECT_TIMEOUT`] each, until one answers (a relay of several that is
/// down costs one timeout, not the sync).
async fn connect(
    data_dir: &Path,
    device_name: &str,
    relay: &str,
    pinned: Fingerprint,
) -> Result<(quinn::Endpoint, quinn::Connection), NetError> {
    let (identity, _) = Identity::load_or_create(data_dir, DEVICE_IDENTITY_STEM, device_name)?;
    let config = tls::client_config(&identity, pinned)?;
    let mut failure = None;
    for addr in resolve(relay)? {
        match connect_to(addr, config.clone()).await {
            Ok(connected) => return Ok(connected),
            Err(e) => failure = Some(e),
        }
    }
    Err(failure.unwrap_or_else(|| NetError::BadAddress(relay.to_owned())))
}

async fn connect_to(
    addr: SocketAddr,
    config: quinn::ClientConfig,
) -> Result<(quinn::Endpoint, quinn::Connection), NetError> {
    let bind: SocketAddr = if addr.is_ipv6() {
        "[::]:0"
    } else {
        "0.0.0.0:0"
    }
    .parse()
    .expect("valid bind address");
    let endpoint = transport::client_endpoint(bind)?;
    match tokio::time::timeout(CONNECT_TIMEOUT, transport::connect(&endpoint, config, addr)).await {
        Ok(conn) => Ok((endpoint, conn?)),
        Err(_) => Err(NetError::Unreachable(CONNECT_TIMEOUT)),
    }
}

/// Enrols this device with a code from the office: registers its key, learns
/// its centre, and gives its journal the centre's id (keeping every activity
/// recorded before).
pub async fn enrol(
    data_dir: &Path,
    replica: &mut Replica,
    code: &str,
) -> Result<Enrolment, NetError> {
    let request = EnrolRequest::new(replica, code)?;
    let granted = request.ask(data_dir).await?;
    request.apply(replica, granted)
}

/// An enrolment in three steps, so that a running app holds the store only
/// for the first and the last, not while the relay is asked.
#[derive(Debug)]
pub struct EnrolRequest {
    code: EnrolCode,
    device_name: String,
    frame: Frame,
}

/// What the relay granted at enrolment.
#[derive(Debug)]
pub struct Granted {
    journal: Uuid,
    centre: String,
    role: Role,
}

impl EnrolRequest {
    /// Checks the code (its checksum says whether it was mistyped) and that
    /// this device is not enrolled yet.
    pub fn new(replica: &Replica, code: &str) -> Result<EnrolRequest, NetError> {
        if let Some(existing) = enrolment(replica.store())? {
            return Err(NetError::AlreadyEnrolled(existing.relay));
        }
        let code = EnrolCode::decode(code)?;
        let device_name = replica.store().device_name().to_owned();
        let frame = Frame::Enrol {
            secret: code.secret,
            device: replica.store().device_id().0,
            device_name: device_name.clone(),
            software: software(),
        };
        Ok(EnrolRequest {
            code,
            device_name,
            frame,
        })
    }

    /// Asks the relay (waiting a little while it is busy enrolling others).
    pub async fn ask(&self, data_dir: &Path) -> Result<Granted, NetError> {
        let mut attempt = 0;
        let reply = loop {
            match ask_to_enrol(data_dir, &self.device_name, &self.code, &self.frame).await {
                Err(e) if relay_busy(&e) && attempt + 1 < ENROL_BUSY_ATTEMPTS => {
                    attempt += 1;
                    tokio::time::sleep(backoff(attempt.min(3))).await;
                }
                other => break other?,
            }
        };
        match reply {
            Frame::Enrolled {
                journal,
                centre,
                role,
            } => Ok(Granted {
                journal,
                centre,
                role,
            }),
            Frame::Error { code, message } => Err(NetError::Refused { code, message }),
            _ => Err(NetError::UnreadableAnswer("an unexpected answer".into())),
        }
    }

    /// Gives the journal the centre's id and name and keeps the enrolment
    /// (durably).
    pub fn apply(self, replica: &mut Replica, granted: Granted) -> Result<Enrolment, NetError> {
        replica.rekey_home(JournalId(granted.journal), &granted.centre)?;
        let enrolment = Enrolment {
            relay: self.code.relay,
            fingerprint: self.code.fingerprint.to_string(),
            office: granted.role == Role::Office,
            centre: granted.centre,
            journal: granted.journal,
            enrolled_at: Utc::now(),
        };
        keep_enrolment(replica.store(), &enrolment).map_err(ReplicaError::from)?;
        // The office's device marks the names written with its changes.
        crate::people::refresh_author(replica)?;
        Ok(enrolment)
    }
}

/// Times a device tries to enrol when the relay turns it away because too
/// many devices are enrolling at once (an office enrolling a room of laptops
/// behind one address): with the backoff, about half a minute in all.
const ENROL_BUSY_ATTEMPTS: u32 = 8;

/// One enrolment exchange: `Enrol`, and the relay's answer.
async fn ask_to_enrol(
    data_dir: &Path,
    device_name: &str,
    code: &EnrolCode,
    request: &Frame,
) -> Result<Frame, NetError> {
    let (_endpoint, conn) = connect(data_dir, device_name, &code.relay, code.fingerprint).await?;
    let (mut send, mut recv) = conn.open_bi().await.map_err(TransportError::from)?;
    let bytes = request
        .encode()
        .map_err(|e| NetError::Request(e.to_string()))?;
    transport::write_all(&mut send, &bytes).await?;
    let _ = send.finish();
    let reply = read_one_frame(&mut recv).await;
    conn.close(0u32.into(), b"enrolled");
    reply
}

/// The relay turned the connection away: too many devices connected, or
/// enrolling, at once. Nothing was done (an enrolment code was not used),
/// and trying again shortly works.
pub(crate) fn relay_busy(e: &NetError) -> bool {
    let closed = match e {
        NetError::Transport(
            TransportError::Connection(c)
            | TransportError::Read(quinn::ReadError::ConnectionLost(c))
            | TransportError::Write(quinn::WriteError::ConnectionLost(c)),
        ) => c,
        _ => return false,
    };
    match closed {
        quinn::ConnectionError::ApplicationClosed(close) => {
            close.error_code == relay::server::CLOSE_BUSY.into()
        }
        quinn::ConnectionError::ConnectionClosed(close) => {
            close.error_code == quinn::TransportErrorCode::CONNECTION_REFUSED
        }
        _ => false,
    }
}

/// Stores the device's enrolment (durably).
pub fn keep_enrolment(store: &Store, enrolment: &Enrolment) -> Result<(), StoreError> {
    store.set_setting(ENROLMENT_KEY, enrolment)
}

async fn read_one_frame(recv: &mut quinn::RecvStream) -> Result<Frame, NetError> {
    let mut frames = FrameBuffer::default();
    loop {
        match frames.next_frame() {
            Ok(Some(frame)) => return Ok(frame),
            Ok(None) => {}
            Err(e) => return Err(NetError::UnreadableAnswer(e.to_string())),
        }
        match transport::read_chunk(recv).await? {
            Some(bytes) => frames.extend(&bytes),
            None => {
                return Err(NetError::UnreadableAnswer(
                    "the office server closed the connection".into(),
                ));
            }
        }
    }
}

pub fn software() -> String {
    format!("field-client {}", env!("CARGO_PKG_VERSION"))
}

/// Connects to the relay this device is enrolled with, pinning its key.
pub async fn connect_enrolled(
    data_dir: &Path,
    device_name: &str,
    enrolment: &Enrolment,
) -> Result<(quinn::Endpoint, quinn::Connection), NetError> {
    let pinned: Fingerprint = enrolment
        .fingerprint
        .parse()
        .map_err(|_| NetError::NotEnrolled)?;
    connect(data_dir, device_name, &enrolment.relay, pinned).await
}

/// Connects and runs one session (see [`Mode`]). In [`Mode::Once`] it
/// returns when every journal is in sync: all local changes acknowledged,
/// all relay changes local.
pub async fn sync(
    data_dir: &Path,
    replica: &mut Replica,
    mode: Mode,
) -> Result<SyncReport, NetError> {
    sync_loop::connected(data_dir, replica, mode).await
}

/// Runs one session on a connection that is already open (as the daemon keeps
/// one): no handshake, only the session's own frames.
pub async fn sync_on(
    conn: &quinn::Connection,
    mut replica: &mut Replica,
    mode: Mode,
) -> Result<SyncReport, NetError> {
    let enrolment = enrolment(replica.store())?.ok_or(NetError::NotEnrolled)?;
    let mut meter = Meter::new(conn);
    sync_loop::run_session(conn, &mut replica, (&enrolment, mode), None, &mut meter).await
}

/// [`flush`], and when a write fails, the relay's last word instead if it
/// sent one: a relay that refuses the device (revoked) may stop reading
/// before the device has written everything, and the refusal must reach
/// the volunteer, not "connection lost".
pub(crate) async fn flush_or_refusal(
    session: &mut ClientSession,
    (send, recv): (&mut quinn::SendStream, &mut quinn::RecvStream),
    pay: &impl Fn(&[u8]) -> Result<(), NetError>,
) -> Result<(), NetError> {
    match flush(session, send, pay).await {
        Err(e @ NetError::Transport(TransportError::Write(_))) => {
            match tokio::time::timeout(LAST_WORD_WAIT, read_one_frame(recv)).await {
                Ok(Ok(Frame::Error { code, message })) => Err(refusal(code, message)),
                _ => Err(e),
            }
        }
        other => other,
    }
}

/// How long a device waits for the relay's explanation after a failed write.
const LAST_WORD_WAIT: Duration = Duration::from_secs(5);

/// Writes everything the session has to send, each frame paid for first.
pub(crate) async fn flush(
    session: &mut ClientSession,
    send: &mut quinn::SendStream,
    pay: &impl Fn(&[u8]) -> Result<(), NetError>,
) -> Result<(), NetError> {
    while let Some(bytes) = session.poll_transmit() {
        pay(&bytes)?;
        transport::write_all(send, &bytes).await?;
    }
    Ok(())
}

/// Why a session ended, as the volunteer reads it.
pub(crate) fn closed(reason: SessionError) -> NetError {
    match reason {
        SessionError::Refused { code, message } => refusal(code, message),
        SessionError::Version(v) => NetError::Version(v),
        other => NetError::Session(other),
    }
}

/// The relay's `Error` frame, as the volunteer reads it: the same whether
/// the session read it or a failed write made us look for it.
fn refusal(code: ErrorCode, message: String) -> NetError {
    match code {
        ErrorCode::Revoked => NetError::Revoked,
        ErrorCode::Unavailable => NetError::RelayUnavailable(message),
        ErrorCode::UnsupportedVersion => NetError::Version(VersionMismatch::from_refusal(&message)),
        _ => NetError::Refused { code, message },
    }
}

/// Every session error reaches the volunteer through [`closed`]'s words.
impl From<SessionError> for NetError {
    fn from(e: SessionError) -> Self {
        closed(e)
    }
}

/// Tells the log what the office server answered to an erasure request.
pub(crate) fn say_erased(activity: Uuid, rewritten: Option<(Uuid, u32)>) {
    match rewritten {
        Some(_) => eprintln!(
            "sync: the office server erased activity {activity}; every computer replaces its \
             copy of that centre's journal at its next sync"
        ),
        None => eprintln!(
            "sync: the office server holds no activity {activity} to erase (erased before, or \
             never sent)"
        ),
    }
}

/// Starts a client session: `Hello`, and for a centre's device its journal's
/// `Open` and first batch right behind it.
pub(crate) fn start_session(
    replica: &mut Replica,
    wanted: Vec<Uuid>,
) -> Result<ClientSession, NetError> {
    let mut session = None;
    guarded(replica, |r| {
        session = Some(ClientSession::new(Instant::now(), &software(), wanted, r));
    })?;
    Ok(session.expect("set unless the closure panicked, which `guarded` returns as an error"))
}

/// Runs session code that touches the journals. Automerge can panic on some
/// inputs: the panic ends this session only, and the journals reload from the
/// store, which holds exactly what was made durable.
pub(crate) fn guarded(replica: &mut Replica, f: impl FnOnce(&mut Replica)) -> Result<(), NetError> {
    match catch_unwind(AssertUnwindSafe(|| f(replica))) {
        Ok(()) => Ok(()),
        Err(panic) => {
            let message = panic
                .downcast_ref::<&str>()
                .map(|s| (*s).to_owned())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown".into());
            replica.reload_all()?;
            Err(NetError::Panicked(message))
        }
    }
}

pub(crate) async fn sleep_until(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}

/// Shortest wait before retrying after a failed connection.
pub const RETRY_MIN: Duration = Duration::from_secs(2);
/// Wait between attempts while the relay speaks another protocol version:
/// nothing syncs until a program is updated, which takes the office hours or
/// days, so an attempt an hour (one handshake and a refusal, a few kilobytes)
/// notices the update soon enough without spending a prepaid link's data.
pub const VERSION_MISMATCH_RETRY: Duration = Duration::from_secs(3600);
/// Longest wait between retries: a centre whose link returns is back in sync
/// within five minutes without any button, while a dead link costs one
/// handshake attempt per five minutes of mobile data.
pub const RETRY_MAX: Duration = Duration::from_secs(300);
/// How often a connected daemon re-checks every journal even without a
/// notification, in case one was lost.
pub const RESYNC_EVERY: Duration = Duration::from_secs(300);

/// The next wait after `failures` failed attempts: doubling from
/// [`RETRY_MIN`], capped at [`RETRY_MAX`], with ±25 % jitter so that ten
/// centres coming back online together do not all retry in the same second.
pub fn backoff(failures: u32) -> Duration {
    let base = RETRY_MIN
        .saturating_mul(1 << failures.min(16))
        .min(RETRY_MAX);
    let jitter = (Uuid::new_v4().as_u128() % 500) as u32; // 0..500 per mille of a half
    let factor = 750 + jitter; // 0.75 ..= 1.25
    base.saturating_mul(factor) / 1000
}
