//! `relay serve`: accepts QUIC connections, identifies each device by its
//! certificate, and runs one [`RelaySession`] per stream against the shared
//! journals. The async code only moves bytes; every decision is in the session.

use std::net::SocketAddr;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use chrono::Utc;
use sync_core::sync::wire::FrameBuffer;
use sync_core::sync::{Attestor, ErrorCode, Frame, Peer, RelayEvent, RelaySession};
use tokio::sync::{Semaphore, broadcast, watch};
use uuid::Uuid;

use crate::journals::RelayJournals;
use crate::registry::{Device, Registry, RegistryError};
use crate::tls::{self, Fingerprint, Identity};
use crate::transport;

/// Devices connected at once. Each idle connection costs a few tens of KiB
/// (QUIC state, buffers, a session); 10,000 stay well under 1 GiB, far beyond
/// a country's network of centres.
pub const MAX_CONNECTIONS: usize = 10_000;

/// Change notifications buffered per listening session. A session that falls
/// further behind is told to re-sync every journal it follows instead.
const NOTIFY_QUEUE_DEPTH: usize = 256;

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

/// Errors starting or running the relay.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServeError {
    #[error(transparent)]
    Tls(#[from] tls::TlsError),
    #[error(transparent)]
    Registry(#[from] RegistryError),
    #[error("cannot open the relay's journals: {0}")]
    Journals(#[from] sync_core::OpenError),
    #[error(transparent)]
    Transport(#[from] transport::TransportError),
}

struct Shared {
    journals: Mutex<RelayJournals>,
    attestor: Attestor,
    /// (journal, session that stored) for every durable store.
    changed: broadcast::Sender<(Uuid, u64)>,
    shutdown: watch::Receiver<bool>,
    connections: Semaphore,
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
        let (identity, _) = Identity::load_or_create(data_dir, RELAY_IDENTITY_STEM, "krc-relay")?;
        let registry = Registry::open(data_dir)?;
        let journals = RelayJournals::open(data_dir, registry)?;
        let endpoint = transport::restartable_server_endpoint(
            tls::server_config(&identity)?,
            listen,
            &identity.derive_secret(RESTART_SECRET_PURPOSE),
        )?;
        let (stop, shutdown) = watch::channel(false);
        let shared = Arc::new(Shared {
            journals: Mutex::new(journals),
            attestor: Attestor::new(identity.derive_secret(ATTESTATION_KEY_PURPOSE)),
            changed: broadcast::channel(NOTIFY_QUEUE_DEPTH).0,
            shutdown,
            connections: Semaphore::new(MAX_CONNECTIONS),
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
    /// in hand (everything acknowledged is already on disk) and closes.
    pub async fn serve(self) {
        let mut shutdown = self.shared.shutdown.clone();
        let mut next_session = 0_u64;
        loop {
            tokio::select! {
                incoming = self.endpoint.accept() => {
                    let Some(incoming) = incoming else { break };
                    let Ok(permit) = self.shared.connections.try_acquire() else {
                        incoming.refuse();
                        continue;
                    };
                    permit.forget();
                    next_session += 1;
                    let shared = self.shared.clone();
                    let first_session = next_session << 16;
                    tokio::spawn(async move {
                        if let Err(e) = handle_connection(incoming, &shared, first_session).await {
                            tracing::debug!(error = %e, "connection ended");
                        }
                        shared.connections.add_permits(1);
                    });
                }
                _ = shutdown.changed() => break,
            }
        }
        self.endpoint.close(0u32.into(), b"relay shutting down");
        self.endpoint.wait_idle().await;
    }
}

#[derive(Debug, thiserror::Error)]
enum ConnectionError {
    #[error("connection failed: {0}")]
    Connection(#[from] quinn::ConnectionError),
    #[error(transparent)]
    Transport(#[from] transport::TransportError),
    #[error("the peer presented no certificate")]
    NoCertificate,
    #[error(transparent)]
    Registry(#[from] RegistryError),
}

async fn handle_connection(
    incoming: quinn::Incoming,
    shared: &Arc<Shared>,
    first_session: u64,
) -> Result<(), ConnectionError> {
    let conn = incoming.await?;
    let fingerprint = tls::peer_fingerprint(&conn).ok_or(ConnectionError::NoCertificate)?;
    let device = lock(shared).registry().device_by_cert(&fingerprint)?;
    let Some(device) = device else {
        return enrol(conn, shared, fingerprint).await;
    };
    if device.revoked_at.is_some() {
        tracing::info!(device = %device.id, "refused a revoked device");
        let (mut send, _recv) = conn.accept_bi().await?;
        if let Ok(bytes) = (Frame::Error {
            code: ErrorCode::Revoked,
            message: "this device was revoked by the office".into(),
        })
        .encode()
        {
            transport::write_all(&mut send, &bytes).await?;
        }
        let _ = send.finish();
        let _ = send.stopped().await;
        return Ok(());
    }
    lock(shared).registry().touch(device.id, Utc::now())?;
    tracing::info!(device = %device.id, name = %device.name, "device connected");
    let mut session_id = first_session;
    loop {
        let (send, recv) = conn.accept_bi().await?;
        session_id += 1;
        let shared = shared.clone();
        let device = device.clone();
        tokio::spawn(async move {
            if let Err(e) = run_session(&shared, &device, send, recv, session_id).await {
                tracing::debug!(device = %device.id, error = %e, "session ended");
            }
        });
    }
}

async fn run_session(
    shared: &Arc<Shared>,
    device: &Device,
    mut send: quinn::SendStream,
    mut recv: quinn::RecvStream,
    id: u64,
) -> Result<(), ConnectionError> {
    let grants = lock(shared).registry().grants_for(device)?;
    let peer = Peer {
        device: device.id,
        attestor: shared.attestor.clone(),
    };
    let mut session = RelaySession::new(Instant::now(), grants, peer);
    if device.office {
        session.permit_erasure();
    }
    let mut changed = shared.changed.subscribe();
    let mut shutdown = shared.shutdown.clone();
    loop {
        // Events first: what they queue (the office's `Health`) goes out
        // before the download batches the session emits once its queue is empty.
        while let Some(event) = session.poll_event() {
            on_event(shared, device, &mut session, event, id)?;
        }
        while let Some(bytes) = session.poll_transmit() {
            transport::write_all(&mut send, &bytes).await?;
        }
        if session.is_closed() {
            let _ = send.finish();
            return Ok(());
        }
        let deadline = session.poll_timeout().map(tokio::time::Instant::from_std);
        tokio::select! {
            chunk = transport::read_chunk(&mut recv) => match chunk? {
                Some(bytes) => handle_bytes(shared, &mut session, &bytes),
                None => session.handle_stream_closed(),
            },
            note = changed.recv() => match note {
                Ok((journal, from)) if from != id => session.notify_changed(journal),
                Ok(_) => {}
                Err(broadcast::error::RecvError::Lagged(_)) => {
                    for grant in lock(shared).registry().grants_for(device)? {
                        session.notify_changed(grant.journal);
                    }
                }
                Err(broadcast::error::RecvError::Closed) => session.handle_stream_closed(),
            },
            _ = sleep_until(deadline) => session.handle_timeout(Instant::now()),
            _ = shutdown.changed() => session.refuse(ErrorCode::Internal, "the relay is shutting down; try again shortly"),
        }
    }
}

/// Acts on one session event: notifies other sessions of stored changes and
/// keeps the registry's sync health up to date.
fn on_event(
    shared: &Arc<Shared>,
    device: &Device,
    session: &mut RelaySession,
    event: RelayEvent,
    session_id: u64,
) -> Result<(), ConnectionError> {
    match event {
        RelayEvent::Welcomed { unsent, .. } => {
            let registry = lock(shared);
            registry.registry().record_unsent(device.id, unsent)?;
            if device.office {
                session.send_health(registry.registry().health()?);
            }
        }
        RelayEvent::Stored { journal, changes } => {
            tracing::info!(device = %device.id, %journal, changes, "stored");
            let _ = shared.changed.send((journal, session_id));
        }
        RelayEvent::Erased {
            activity,
            journal,
            epoch,
        } => {
            tracing::info!(device = %device.id, %activity, %journal, epoch, "erased on the office's request");
            // Every other session following the journal learns the new epoch
            // at its next round, which this notification starts.
            let _ = shared.changed.send((journal, session_id));
        }
        RelayEvent::HoldsAll { journal } if journal == device.centre => {
            lock(shared)
                .registry()
                .record_synced(device.id, Utc::now())?;
            tracing::debug!(device = %device.id, %journal, "device in sync");
        }
        RelayEvent::ForgedAuthor { journal, author } => {
            tracing::warn!(
                device = %device.id,
                name = %device.name,
                %journal,
                %author,
                "refused a batch: the device sent a change written by another device that this \
                 relay never stored (an attempt to write as someone else)"
            );
        }
        RelayEvent::Closed { reason } => {
            tracing::info!(device = %device.id, %reason, "session closed")
        }
        other => tracing::debug!(device = %device.id, ?other, "session event"),
    }
    Ok(())
}

/// Feeds bytes to the session under the journals lock. A panic inside the
/// session (Automerge can panic on some inputs) closes this session only: the
/// loaded journals are dropped and reload from disk, where only durable,
/// acknowledged data ever was.
fn handle_bytes(shared: &Shared, session: &mut RelaySession, bytes: &[u8]) {
    let mut journals = lock(shared);
    // Runs on the async worker: a batch is at most MAX_BATCH_BYTES, applied and
    // committed in milliseconds, and sessions take turns on this lock anyway.
    let outcome = catch_unwind(AssertUnwindSafe(|| {
        session.handle_bytes(Instant::now(), bytes, &mut *journals)
    }));
    if outcome.is_err() {
        tracing::error!("a sync session panicked; it is closed and the journals reload from disk");
        journals.evict_all();
        session.refuse(
            ErrorCode::Internal,
            "the relay failed on this request; nothing acknowledged was lost",
        );
    }
}

async fn enrol(
    conn: quinn::Connection,
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
            let registry_result = {
                let journals = lock(shared);
                let registry = journals.registry();
                registry
                    .enrol(&secret, device, &device_name, fingerprint, Utc::now())
                    .and_then(|d| {
                        let centre = registry.centre(d.centre)?;
                        Ok((d, centre))
                    })
            };
            match registry_result {
                Ok((d, centre)) => {
                    tracing::info!(device = %d.id, name = %d.name, centre = %centre.name, "device enrolled");
                    Frame::Enrolled {
                        journal: centre.id,
                        centre: centre.name,
                        role: d.role(),
                    }
                }
                Err(e) => Frame::Error {
                    code: ErrorCode::NotAllowed,
                    message: e.to_string(),
                },
            }
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

async fn sleep_until(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}

/// The journals lock. A poisoned lock means a panic while holding it; the
/// data behind it is only a cache of durable state, so it is used as is.
fn lock(shared: &Shared) -> std::sync::MutexGuard<'_, RelayJournals> {
    shared
        .journals
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}
