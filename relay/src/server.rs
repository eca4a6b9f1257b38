//! `relay serve`: accepts QUIC connections, identifies each device by its
//! certificate, and runs one sync session per stream (`session.rs`) against
//! the relay's storage (`store`). The async code only moves bytes and keeps
//! the doors: connection slots are owned guards given back on every path,
//! strangers (unknown certificates, which TLS must accept so that devices
//! can enrol) have their own cap, a cap per address and a deadline.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use chrono::Utc;
use sync_core::sync::wire::FrameBuffer;
use sync_core::sync::{Attestor, ErrorCode, Frame};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, broadcast, watch};
use uuid::Uuid;

use crate::limits::{
    DoorLimits, ENROLMENT_DEADLINE, HANDSHAKE_DEADLINE, HEALTH_FLUSH_INTERVAL,
    LARGE_TRANSFER_BUDGET_BYTES,
};
use crate::registry::{Device, RegistryError};
use crate::session::{ConnectionWindows, blocking, run_session};
use crate::store::{EnrolRequest, OpenStoreError, PgStore, RedbStore, RelayStore, StoreLocation};
use crate::telemetry;
use crate::tls::{self, Fingerprint, Identity};
use crate::transport;

/// Change notifications buffered per listening session. A session that falls
/// further behind is told to re-sync every journal it follows instead.
const NOTIFY_QUEUE_DEPTH: usize = 256;

/// How long the relay keeps a refused connection open after its last word
/// (a revoked device's `Error`, a stranger turned away), so the device reads
/// it before the connection closes; the device closes it at once, normally.
const REFUSAL_LINGER: Duration = Duration::from_secs(10);

/// File stem of the relay's key and certificate in its data folder.
pub const RELAY_IDENTITY_STEM: &str = "relay";

/// What the relay's restart secret is derived for (see
/// [`transport::restartable_server_endpoint`]): the same key gives the same QUIC reset keys
/// after every restart, so devices connected to a crashed relay learn at once that their
/// connection is gone.
const RESTART_SECRET_PURPOSE: &str = "krc-relay quic restart keys v1";

/// What the key of the relay's attestations (`sync_core::sync::attest`) is
/// derived for: the same identity gives the same key after every restart
/// and restore from a backup, so a tag the relay gave a device years ago
/// still proves that it stored that change.
const ATTESTATION_KEY_PURPOSE: &str = "krc-relay change attestations v1";

/// QUIC close code (application error code) of a stranger turned away: too
/// many devices enrolling at once, or from its address. It may try again.
pub const CLOSE_BUSY: u32 = 1;

/// QUIC close code of a connection that did not enrol within the deadline.
pub const CLOSE_TOO_SLOW: u32 = 2;

/// Errors starting or running the relay.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServeError {
    #[error(transparent)]
    Tls(#[from] tls::TlsError),
    #[error("cannot open the relay's data: {0}")]
    Store(#[from] OpenStoreError),
    #[error(transparent)]
    Transport(#[from] transport::TransportError),
}

/// What every connection and session of the relay shares.
pub(crate) struct Shared {
    pub(crate) store: Arc<dyn RelayStore>,
    pub(crate) attestor: Attestor,
    /// (journal, session that stored) for every durable store.
    pub(crate) changed: broadcast::Sender<(Uuid, u64)>,
    pub(crate) shutdown: watch::Receiver<bool>,
    connections: Arc<Semaphore>,
    unenrolled: Arc<Semaphore>,
    unenrolled_by_address: Mutex<HashMap<IpAddr, usize>>,
    max_unenrolled_per_address: usize,
    /// Shares of large transfers (see `limits::LARGE_TRANSFER_BUDGET_BYTES`).
    pub(crate) large_transfers: Arc<Semaphore>,
    /// Bytes of files one centre may keep (`relay.toml`).
    pub(crate) max_file_bytes_per_centre: u64,
}

/// The key of a relay serving from PostgreSQL: the one in its data folder,
/// which must be the deployment's (devices pinned it); a relay with none
/// makes one only for a database no relay served from yet.
fn deployment_identity(data_dir: &Path, store: &PgStore) -> Result<Identity, ServeError> {
    let identity = match Identity::load(data_dir, RELAY_IDENTITY_STEM) {
        Err(tls::TlsError::Missing { .. }) => {
            match store.deployment_key().map_err(OpenStoreError::from)? {
                Some(deployment) => {
                    return Err(OpenStoreError::MissingKey { deployment }.into());
                }
                None => Identity::load_or_create(data_dir, RELAY_IDENTITY_STEM, "krc-relay")?.0,
            }
        }
        other => other?,
    };
    store.adopt_key(identity.fingerprint())?;
    Ok(identity)
}

/// A relay bound to its socket, ready to serve.
pub struct Relay {
    endpoint: quinn::Endpoint,
    shared: Arc<Shared>,
    fingerprint: Fingerprint,
    data_dir: PathBuf,
    stop: watch::Sender<bool>,
}

impl std::fmt::Debug for Relay {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Relay")
            .field("data_dir", &self.data_dir)
            .finish_non_exhaustive()
    }
}

impl Relay {
    /// Opens the data folder (making the key on first start) and binds `listen`.
    pub fn bind(data_dir: &Path, listen: SocketAddr) -> Result<Relay, ServeError> {
        Relay::bind_with(
            data_dir,
            listen,
            DoorLimits::default(),
            &StoreLocation::DataDir,
        )
    }

    /// [`Relay::bind`] with the doors' limits of a configuration file, on
    /// the store it names.
    pub fn bind_with(
        data_dir: &Path,
        listen: SocketAddr,
        limits: DoorLimits,
        store: &StoreLocation,
    ) -> Result<Relay, ServeError> {
        let opened = Relay::open_store(data_dir, store)?;
        Relay::bind_opened(data_dir, opened, listen, limits)
    }

    /// Opens the store `store` names, with the key the relay serves it
    /// with. Blocks: call it outside an async context (a PostgreSQL store
    /// runs its own runtime).
    pub fn open_store(
        data_dir: &Path,
        store: &StoreLocation,
    ) -> Result<(Identity, Arc<dyn RelayStore>), ServeError> {
        Ok(match store {
            StoreLocation::DataDir => {
                let identity =
                    Identity::load_or_create(data_dir, RELAY_IDENTITY_STEM, "krc-relay")?.0;
                (identity, Arc::new(RedbStore::open(data_dir)?))
            }
            StoreLocation::Postgres(url) => {
                let store = PgStore::connect(url)?;
                (deployment_identity(data_dir, &store)?, Arc::new(store))
            }
        })
    }

    /// A relay on a store [`Relay::open_store`] opened, bound to `listen`.
    pub fn bind_opened(
        data_dir: &Path,
        (identity, store): (Identity, Arc<dyn RelayStore>),
        listen: SocketAddr,
        limits: DoorLimits,
    ) -> Result<Relay, ServeError> {
        Relay::with_store_and_limits(data_dir, &identity, store, listen, limits)
    }

    /// A relay on storage of the caller's choice (a fault-injecting one in
    /// tests), with `identity` as its key.
    pub fn with_store(
        data_dir: &Path,
        identity: &Identity,
        store: Arc<dyn RelayStore>,
        listen: SocketAddr,
    ) -> Result<Relay, ServeError> {
        Relay::with_store_and_limits(data_dir, identity, store, listen, DoorLimits::default())
    }

    fn with_store_and_limits(
        data_dir: &Path,
        identity: &Identity,
        store: Arc<dyn RelayStore>,
        listen: SocketAddr,
        limits: DoorLimits,
    ) -> Result<Relay, ServeError> {
        let endpoint = transport::restartable_server_endpoint(
            tls::server_config(identity)?,
            listen,
            &identity.derive_secret(RESTART_SECRET_PURPOSE),
        )?;
        if let Some(granted) = transport::granted_receive_buffer(listen) {
            tracing::warn!(
                granted,
                wanted = transport::UDP_BUFFER_BYTES,
                "the system grants the relay's UDP socket a small receive buffer: when many \
                 devices connect at once some packets are dropped and resent; raise \
                 net.core.rmem_max (and wmem_max) to at least the wanted size"
            );
        }
        let (stop, shutdown) = watch::channel(false);
        let shared = Arc::new(Shared {
            store,
            attestor: Attestor::new(identity.derive_secret(ATTESTATION_KEY_PURPOSE)),
            changed: broadcast::channel(NOTIFY_QUEUE_DEPTH).0,
            shutdown,
            connections: Arc::new(Semaphore::new(limits.max_connections)),
            unenrolled: Arc::new(Semaphore::new(limits.max_unenrolled_connections)),
            unenrolled_by_address: Mutex::new(HashMap::new()),
            max_unenrolled_per_address: limits.max_unenrolled_per_address,
            large_transfers: Arc::new(Semaphore::new(LARGE_TRANSFER_BUDGET_BYTES)),
            max_file_bytes_per_centre: limits.max_file_bytes_per_centre,
        });
        Ok(Relay {
            endpoint,
            shared,
            fingerprint: identity.fingerprint(),
            data_dir: data_dir.to_owned(),
            stop,
        })
    }

    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.endpoint.local_addr()
    }

    pub fn fingerprint(&self) -> Fingerprint {
        self.fingerprint
    }

    /// A handle that stops [`Relay::serve`] when told to.
    pub fn stopper(&self) -> watch::Sender<bool> {
        self.stop.clone()
    }

    /// Serves until the stopper says stop; then lets sessions finish the frame
    /// in hand (everything acknowledged is already on disk), writes the sync
    /// health noted since the last write, and closes.
    pub async fn serve(self) {
        self.shared
            .store
            .follow_other_relays(self.shared.changed.clone());
        let store = self.shared.store.clone();
        tokio::task::spawn_blocking(move || {
            let compacted = store.maintain_all();
            if compacted > 0 {
                tracing::info!(
                    compacted,
                    "compacted journals left with many appended changes"
                );
            }
        });
        let mut shutdown = self.shared.shutdown.clone();
        let mut flush = tokio::time::interval(HEALTH_FLUSH_INTERVAL);
        let mut next_session = 0_u64;
        loop {
            tokio::select! {
                incoming = self.endpoint.accept() => {
                    let Some(incoming) = incoming else { break };
                    // Owned: given back when the connection's task ends, by
                    // returning, failing or panicking.
                    let Ok(slot) = self.shared.connections.clone().try_acquire_owned() else {
                        telemetry::refused(telemetry::refusal::NO_SLOT);
                        incoming.refuse();
                        continue;
                    };
                    next_session += 1;
                    let shared = self.shared.clone();
                    let first_session = next_session << 16;
                    tokio::spawn(async move {
                        if let Err(e) = handle_connection(incoming, &shared, first_session, slot).await {
                            tracing::debug!(error = %e, "connection ended");
                        }
                    });
                }
                _ = flush.tick() => flush_health(&self.shared),
                _ = shutdown.changed() => break,
            }
        }
        self.endpoint.close(0u32.into(), b"relay shutting down");
        self.endpoint.wait_idle().await;
        let store = self.shared.store.clone();
        if let Ok(Err(e)) = blocking(move || store.flush_notes()).await {
            tracing::warn!(error = %e, "could not write the last sync-health notes");
        }
    }
}

/// Writes the sync health noted since the last write, off the async workers.
fn flush_health(shared: &Arc<Shared>) {
    let store = shared.store.clone();
    tokio::task::spawn_blocking(move || {
        if let Err(e) = store.flush_notes() {
            tracing::warn!(error = %e, "could not write sync-health notes; trying again later");
        }
    });
}

#[derive(Debug, thiserror::Error)]
pub(crate) enum ConnectionError {
    #[error("connection failed: {0}")]
    Connection(#[from] quinn::ConnectionError),
    #[error(transparent)]
    Transport(#[from] transport::TransportError),
    #[error("the peer presented no certificate")]
    NoCertificate,
    #[error("the handshake took longer than {HANDSHAKE_DEADLINE:?}")]
    HandshakeTooSlow,
    #[error(transparent)]
    Registry(#[from] RegistryError),
    #[error("storage work failed to run: {0}")]
    Blocking(String),
}

async fn handle_connection(
    incoming: quinn::Incoming,
    shared: &Arc<Shared>,
    first_session: u64,
    _slot: OwnedSemaphorePermit,
) -> Result<(), ConnectionError> {
    let started = tokio::time::Instant::now();
    let conn = tokio::time::timeout(HANDSHAKE_DEADLINE, incoming)
        .await
        .map_err(|_| {
            telemetry::refused(telemetry::refusal::HANDSHAKE_TIMEOUT);
            ConnectionError::HandshakeTooSlow
        })??;
    let _traffic = telemetry::Traffic(conn.clone());
    let fingerprint = tls::peer_fingerprint(&conn).ok_or(ConnectionError::NoCertificate)?;
    let store = shared.store.clone();
    let device = match blocking(move || store.device_by_cert(&fingerprint)).await? {
        Err(e) => {
            tracing::warn!(error = %e, "refused a device: its certificate could not be looked up");
            let (code, words) = lookup_refusal(&e);
            return refuse_with(conn, code, words).await;
        }
        Ok(found) => found,
    };
    let Some(device) = device else {
        return stranger(conn, shared, fingerprint, started).await;
    };
    if device.revoked_at.is_some() {
        tracing::info!(device = %device.id, "refused a revoked device");
        telemetry::refused(telemetry::refusal::REVOKED);
        return refuse_with(
            conn,
            ErrorCode::Revoked,
            "this device was revoked by the office",
        )
        .await;
    }
    shared.store.note_contact(device.id, Utc::now());
    tracing::info!(device = %device.id, name = %device.name, "device connected");
    let _connected = telemetry::Up::new(telemetry::DEVICES_CONNECTED);
    let windows = ConnectionWindows::new(conn.clone());
    let mut session_id = first_session;
    loop {
        let streams = match conn.accept_bi().await {
            Ok(streams) => streams,
            Err(e) => {
                // "closed by peer" when the device said goodbye (a stopping
                // `run`), "timed out" when it vanished.
                tracing::info!(device = %device.id, reason = %e, "device disconnected");
                return Ok(());
            }
        };
        session_id += 1;
        let (shared, device, windows) = (shared.clone(), device.clone(), windows.clone());
        tokio::spawn(async move {
            let id = device.id;
            if let Err(e) = serve_stream(shared, device, windows, streams, session_id).await {
                metrics::counter!(telemetry::SESSION_ERRORS).increment(1);
                tracing::debug!(device = %id, error = %e, "session ended");
            }
        });
    }
}

/// Serves one stream a device opened: a sync session, or a file stream
/// (docs/PROTOCOL.md, "Files"), told apart by the kind of its first frame.
async fn serve_stream(
    shared: Arc<Shared>,
    device: crate::registry::Device,
    windows: Arc<ConnectionWindows>,
    (send, mut recv): (quinn::SendStream, quinn::RecvStream),
    session_id: u64,
) -> Result<(), ConnectionError> {
    let mut first = Vec::new();
    // The kind is the fifth byte (after the length).
    while first.len() < 5 {
        match transport::read_chunk(&mut recv).await? {
            Some(bytes) => first.extend_from_slice(&bytes),
            None => return Ok(()),
        }
    }
    if Frame::is_file_frame(first[4]) {
        metrics::counter!(telemetry::FILE_STREAMS).increment(1);
        let link = (shared, windows);
        return crate::file_stream::run_file_stream(link, device, (send, recv), first).await;
    }
    metrics::counter!(telemetry::SESSIONS).increment(1);
    let _active = telemetry::Up::new(telemetry::SESSIONS_ACTIVE);
    run_session(shared, device, windows, (send, recv), (session_id, first)).await
}

/// Tells a revoked device so, on the stream it opens, then waits until the
/// device closed the connection (having read it) or [`REFUSAL_LINGER`]
/// passed: closing first could drop the answer before the device read it.
///
/// The device's own frames are left unread but not refused: stopping its
/// stream would make its next write fail, and it would report that failure
/// ("connection lost") instead of reading the refusal.
/// What a device is told when the registry could not be read for it: a
/// database out of reach in the words that promise its records are kept.
pub(crate) fn lookup_refusal(e: &RegistryError) -> (ErrorCode, &'static str) {
    if e.is_database_unreachable() {
        (
            ErrorCode::Unavailable,
            crate::store::DATABASE_UNREACHABLE_MESSAGE,
        )
    } else {
        (
            ErrorCode::Internal,
            "the office server could not look this device up; it tries again later",
        )
    }
}

/// Writes an `Error` frame on a stream whose session never started (the
/// registry could not be read for it), and ends the stream.
pub(crate) async fn refuse_stream(send: &mut quinn::SendStream, e: &RegistryError) {
    let (code, words) = lookup_refusal(e);
    let refusal = Frame::Error {
        code,
        message: words.into(),
    };
    if let Ok(bytes) = refusal.encode() {
        let _ = transport::write_all(send, &bytes).await;
    }
    let _ = send.finish();
}

/// Answers the device's first stream with an `Error` frame (a revoked
/// device, a database out of reach) and lets it read it.
async fn refuse_with(
    conn: quinn::Connection,
    code: ErrorCode,
    message: &str,
) -> Result<(), ConnectionError> {
    let _ = tokio::time::timeout(REFUSAL_LINGER, async {
        let (mut send, unread) = conn.accept_bi().await?;
        let refusal = Frame::Error {
            code,
            message: message.into(),
        };
        if let Ok(bytes) = refusal.encode() {
            transport::write_all(&mut send, &bytes).await?;
        }
        let _ = send.finish();
        conn.closed().await;
        drop(unread);
        Ok::<(), ConnectionError>(())
    })
    .await;
    Ok(())
}

/// A connection from a certificate the relay does not know: it may enrol,
/// within the strangers' caps and [`ENROLMENT_DEADLINE`] from its first packet.
async fn stranger(
    conn: quinn::Connection,
    shared: &Arc<Shared>,
    fingerprint: Fingerprint,
    started: tokio::time::Instant,
) -> Result<(), ConnectionError> {
    let Some(_place) = StrangerPlace::take(shared, conn.remote_address().ip()) else {
        tracing::info!(address = %conn.remote_address(), "turned away a stranger: too many enrolling at once");
        telemetry::refused(telemetry::refusal::STRANGERS_FULL);
        conn.close(
            CLOSE_BUSY.into(),
            b"too many devices are enrolling at once; try again in a minute",
        );
        return Ok(());
    };
    let deadline = started + ENROLMENT_DEADLINE;
    match tokio::time::timeout_at(deadline, enrol(&conn, shared, fingerprint)).await {
        Ok(result) => {
            // The answer was written; let the device read it and close.
            let _ = tokio::time::timeout(REFUSAL_LINGER, conn.closed()).await;
            result
        }
        Err(_) => {
            tracing::info!(address = %conn.remote_address(), "dropped a stranger that did not enrol in time");
            telemetry::refused(telemetry::refusal::ENROLMENT_TIMEOUT);
            conn.close(CLOSE_TOO_SLOW.into(), b"enrolment did not complete in time");
            Ok(())
        }
    }
}

/// A stranger's place within the unenrolled connections' limits
/// ([`DoorLimits`]); given back when dropped.
struct StrangerPlace {
    _slot: OwnedSemaphorePermit,
    shared: Arc<Shared>,
    address: IpAddr,
}

impl StrangerPlace {
    fn take(shared: &Arc<Shared>, address: IpAddr) -> Option<StrangerPlace> {
        let slot = shared.unenrolled.clone().try_acquire_owned().ok()?;
        let mut by_address = lock(&shared.unenrolled_by_address);
        let count = by_address.entry(address).or_insert(0);
        if *count >= shared.max_unenrolled_per_address {
            return None;
        }
        *count += 1;
        Some(StrangerPlace {
            _slot: slot,
            shared: shared.clone(),
            address,
        })
    }
}

impl Drop for StrangerPlace {
    fn drop(&mut self) {
        let mut by_address = lock(&self.shared.unenrolled_by_address);
        if let Some(count) = by_address.get_mut(&self.address) {
            *count -= 1;
            if *count == 0 {
                by_address.remove(&self.address);
            }
        }
    }
}

async fn enrol(
    conn: &quinn::Connection,
    shared: &Arc<Shared>,
    fingerprint: Fingerprint,
) -> Result<(), ConnectionError> {
    let (mut send, mut recv) = conn.accept_bi().await?;
    let mut frames = FrameBuffer::default();
    let frame = loop {
        match frames.next_frame() {
            Ok(Some(frame)) => break Some(frame),
            Ok(None) => match transport::read_chunk(&mut recv).await? {
                Some(bytes) => frames.extend(&bytes),
                None => break None,
            },
            Err(_) => break None,
        }
    };
    let reply = match frame {
        Some(Frame::Enrol {
            secret,
            device,
            device_name,
            ..
        }) => {
            let store = shared.store.clone();
            let enrolled = blocking(move || {
                store.enrol(EnrolRequest {
                    secret: &secret,
                    device,
                    name: &device_name,
                    cert: fingerprint,
                    now: Utc::now(),
                })
            })
            .await?;
            enrolment_answer(enrolled)
        }
        _ => Frame::Error {
            code: ErrorCode::NotAllowed,
            message: "this device is not enrolled; enrol it with a code from the office".into(),
        },
    };
    if let Ok(bytes) = reply.encode() {
        transport::write_all(&mut send, &bytes).await?;
    }
    let _ = send.finish();
    let _ = send.stopped().await;
    Ok(())
}

fn enrolment_answer(enrolled: Result<(Device, crate::registry::Centre), RegistryError>) -> Frame {
    match enrolled {
        Ok((device, centre)) => {
            tracing::info!(device = %device.id, name = %device.name, centre = %centre.name, "device enrolled");
            Frame::Enrolled {
                journal: centre.id,
                centre: centre.name,
                role: device.role(),
            }
        }
        Err(e) if e.is_disk_full() => Frame::Error {
            code: ErrorCode::Unavailable,
            message: "the office server's disk is full; try enrolling again later".into(),
        },
        Err(e) if e.is_database_unreachable() => Frame::Error {
            code: ErrorCode::Unavailable,
            message: "the office server cannot reach its database just now; try enrolling \
                      again later"
                .into(),
        },
        Err(e) => Frame::Error {
            code: ErrorCode::NotAllowed,
            message: e.to_string(),
        },
    }
}

pub(crate) async fn sleep_until(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}

/// A mutex of counters only: a panic elsewhere never leaves it inconsistent.
fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}
