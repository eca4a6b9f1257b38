//! One sync session's shell: moves bytes between a QUIC stream and a sans-IO
//! [`RelaySession`]. Every call that touches storage runs on a blocking
//! thread (`spawn_blocking`), so a session waiting for a journal's lock or
//! the disk never holds up the async workers, the QUIC endpoint, or sessions
//! of other centres. Large frames, either way, are moved only with a share of
//! the relay's large-transfer budget (`limits::LARGE_TRANSFER_BUDGET_BYTES`).

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use chrono::Utc;
use quinn::VarInt;
use sync_core::sync::{ErrorCode, Peer, RelayEvent, RelaySession};
use tokio::sync::{OwnedSemaphorePermit, broadcast};

use crate::limits::{
    LARGE_FRAME_DEADLINE, LARGE_TRANSFER_BYTES, SHARE_KEPT_BETWEEN_FRAMES, SMALL_FRAME_BYTES,
};
use crate::registry::Device;
use crate::server::{ConnectionError, Shared, sleep_until};
use crate::store::SessionStorage;
use crate::tls::{BULK_WINDOW, RELAY_WINDOW};
use crate::transport;

/// A connection as its sessions share it: the windows they raise while they
/// move large frames.
#[derive(Debug)]
pub(crate) struct ConnectionWindows {
    conn: quinn::Connection,
    /// Sessions of this connection holding a large transfer.
    bulk: AtomicUsize,
}

impl ConnectionWindows {
    pub(crate) fn new(conn: quinn::Connection) -> Arc<ConnectionWindows> {
        Arc::new(ConnectionWindows {
            conn,
            bulk: AtomicUsize::new(0),
        })
    }

    fn set(&self, window: u32) {
        self.conn.set_receive_window(VarInt::from_u32(window));
        self.conn.set_send_window(u64::from(window));
    }
}

/// A session's share of the large-transfer budget. While a share moves a
/// large frame ([`LargeTransfer::bulk`]), its connection's windows are
/// raised to [`BULK_WINDOW`]; changing them sends the peer a frame, so a
/// share that ends up moving a small one leaves them as they are.
pub(crate) struct LargeTransfer {
    _share: OwnedSemaphorePermit,
    /// The connection whose windows this share raised.
    raised: Option<Arc<ConnectionWindows>>,
}

impl LargeTransfer {
    /// Waits for a share: while it waits the session reads nothing more.
    pub(crate) async fn start(shared: &Shared) -> LargeTransfer {
        let share = shared
            .large_transfers
            .clone()
            .acquire_many_owned(LARGE_TRANSFER_BYTES as u32)
            .await
            .expect("the budget is never closed");
        LargeTransfer {
            _share: share,
            raised: None,
        }
    }

    /// The share moves a large frame on `windows`' connection: raises them.
    pub(crate) fn bulk(mut self, windows: &Arc<ConnectionWindows>) -> LargeTransfer {
        if self.raised.is_none() {
            if windows.bulk.fetch_add(1, Ordering::AcqRel) == 0 {
                windows.set(BULK_WINDOW);
            }
            self.raised = Some(windows.clone());
        }
        self
    }
}

impl Drop for LargeTransfer {
    fn drop(&mut self) {
        if let Some(windows) = &self.raised
            && windows.bulk.fetch_sub(1, Ordering::AcqRel) == 1
        {
            windows.set(RELAY_WINDOW);
        }
    }
}

/// One sync session on one stream, until it ends.
pub(crate) async fn run_session(
    shared: Arc<Shared>,
    device: Device,
    windows: Arc<ConnectionWindows>,
    (mut send, mut recv): (quinn::SendStream, quinn::RecvStream),
    (id, first): (u64, Vec<u8>),
) -> Result<(), ConnectionError> {
    let store = shared.store.clone();
    let grants = match blocking({
        let (store, device) = (store.clone(), device.clone());
        move || store.grants_for(&device)
    })
    .await?
    {
        Ok(grants) => grants,
        Err(e) => {
            crate::server::refuse_stream(&mut send, &e).await;
            return Err(e.into());
        }
    };
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
    // The bytes read to tell the stream's kind (a small frame's start).
    session = feed(&shared, session, first).await?;
    // The share of the budget held to receive, and until when.
    let mut incoming = reserve_incoming(&shared, &windows, &session, None).await;
    loop {
        while let Some(event) = session.poll_event() {
            session = on_event(&shared, &device, session, event, id).await?;
        }
        write_queued(&mut session, &mut send).await?;
        if session.wants_to_send() {
            // A share kept for a next upload batch goes back first: a
            // session never waits for a second share while holding an idle
            // one (sessions doing so could wait on each other).
            if incoming.as_ref().is_some_and(|held| !held.mid_frame) {
                incoming = None;
            }
            session = send_download_batch(&shared, &windows, session, &mut send).await?;
            continue;
        }
        if session.is_closed() {
            let _ = send.finish();
            return Ok(());
        }
        let deadline = session.poll_timeout().map(tokio::time::Instant::from_std);
        let incoming_deadline = incoming.as_ref().map(|held| held.until);
        let mid_frame = incoming.as_ref().is_some_and(|held| held.mid_frame);
        tokio::select! {
            chunk = transport::read_chunk(&mut recv) => match chunk? {
                Some(bytes) => {
                    // With a share of the budget, what else came in goes in
                    // the same feed (see `transport::read_ready`).
                    let (bytes, ended) = match incoming {
                        Some(_) => transport::read_ready(&mut recv, bytes).await?,
                        None => (bytes, false),
                    };
                    session = feed(&shared, session, bytes).await?;
                    incoming = reserve_incoming(&shared, &windows, &session, incoming).await;
                    if ended {
                        session.handle_stream_closed();
                    }
                }
                None => session.handle_stream_closed(),
            },
            note = changed.recv() => match note {
                Ok((journal, from)) if from != id => session.notify_changed(journal),
                Ok(_) => {}
                Err(broadcast::error::RecvError::Lagged(_)) => {
                    // Too far behind to know which: every journal it follows.
                    let grants = blocking({
                        let (store, device) = (store.clone(), device.clone());
                        move || store.grants_for(&device)
                    })
                    .await??;
                    for grant in grants {
                        session.notify_changed(grant.journal);
                    }
                }
                Err(broadcast::error::RecvError::Closed) => session.handle_stream_closed(),
            },
            _ = sleep_until(deadline) => session.handle_timeout(Instant::now()),
            _ = sleep_until(incoming_deadline), if mid_frame => session.refuse(
                ErrorCode::TooLarge,
                "the rest of a large frame did not come in time",
            ),
            // Kept between frames of an upload and nothing came: back to others.
            _ = sleep_until(incoming_deadline), if !mid_frame => incoming = None,
            _ = shutdown.changed() => session.refuse(
                ErrorCode::Internal,
                "the relay is shutting down; try again shortly",
            ),
        }
    }
}

/// A share of the budget held to receive: for a large frame begun, or kept
/// between two frames of one upload (a sync session's batches, a file's
/// chunks).
pub(crate) struct Incoming {
    share: LargeTransfer,
    /// The frame's deadline ([`LARGE_FRAME_DEADLINE`]) while `mid_frame`,
    /// else when the share goes back ([`SHARE_KEPT_BETWEEN_FRAMES`]).
    until: tokio::time::Instant,
    mid_frame: bool,
}

impl Incoming {
    /// Until when the share is held: the rest of the frame, or the next one.
    pub(crate) fn until(&self) -> tokio::time::Instant {
        self.until
    }

    /// Whether a large frame is half received (its deadline ends the stream).
    pub(crate) fn mid_frame(&self) -> bool {
        self.mid_frame
    }
}

/// After bytes were fed: a large frame begun gets its share of the budget
/// (waited for) before more of it is read; a completed one gives it back,
/// unless the upload continues (kept a little while for the next batch).
async fn reserve_incoming(
    shared: &Shared,
    windows: &Arc<ConnectionWindows>,
    session: &RelaySession,
    incoming: Option<Incoming>,
) -> Option<Incoming> {
    let arriving = (session.incoming_frame_bytes(), session.upload_continues());
    reserve_share(shared, windows, arriving, incoming).await
}

/// [`reserve_incoming`] for any stream: `frame_bytes` of the frame being
/// received (while incomplete), and whether more large frames of the same
/// upload are due.
pub(crate) async fn reserve_share(
    shared: &Shared,
    windows: &Arc<ConnectionWindows>,
    (frame_bytes, continues): (Option<usize>, bool),
    incoming: Option<Incoming>,
) -> Option<Incoming> {
    let now = tokio::time::Instant::now();
    let large = frame_bytes.is_some_and(|bytes| bytes > SMALL_FRAME_BYTES);
    match (large, incoming) {
        (true, Some(held)) if held.mid_frame => Some(held),
        (true, held) => {
            let share = match held {
                Some(held) => held.share,
                None => LargeTransfer::start(shared).await.bulk(windows),
            };
            Some(Incoming {
                share,
                until: now + LARGE_FRAME_DEADLINE,
                mid_frame: true,
            })
        }
        (false, Some(held)) if continues => Some(Incoming {
            until: if held.mid_frame {
                now + SHARE_KEPT_BETWEEN_FRAMES
            } else {
                held.until
            },
            mid_frame: false,
            ..held
        }),
        (false, _) => None,
    }
}

/// Builds the next download batch with a share of the budget (it may be a
/// large frame) and writes it; a small one gives the share back at once.
async fn send_download_batch(
    shared: &Arc<Shared>,
    windows: &Arc<ConnectionWindows>,
    session: RelaySession,
    send: &mut quinn::SendStream,
) -> Result<RelaySession, ConnectionError> {
    let share = LargeTransfer::start(shared).await;
    let store = shared.store.clone();
    let mut session = blocking(move || {
        let mut session = session;
        let outcome = catch_unwind(AssertUnwindSafe(|| {
            session.handle_send_ready(Instant::now(), &mut SessionStorage(&*store))
        }));
        after_panic(&mut session, outcome.is_err());
        session
    })
    .await?;
    let mut frames = Vec::new();
    while let Some(bytes) = session.poll_transmit() {
        frames.push(bytes);
    }
    let large = frames.iter().map(Vec::len).sum::<usize>() > SMALL_FRAME_BYTES;
    let _share = large.then(|| share.bulk(windows));
    for bytes in frames {
        transport::write_all(send, &bytes).await?;
    }
    Ok(session)
}

async fn write_queued(
    session: &mut RelaySession,
    send: &mut quinn::SendStream,
) -> Result<(), ConnectionError> {
    while let Some(bytes) = session.poll_transmit() {
        transport::write_all(send, &bytes).await?;
    }
    Ok(())
}

/// Feeds received bytes to the session on a blocking thread. A panic inside
/// the session (Automerge can panic on some inputs) closes this session
/// only; a journal it was changing reloads from its file (its lock was
/// poisoned), where only durable, acknowledged data ever was.
async fn feed(
    shared: &Arc<Shared>,
    session: RelaySession,
    bytes: Vec<u8>,
) -> Result<RelaySession, ConnectionError> {
    let store = shared.store.clone();
    blocking(move || {
        let mut session = session;
        let outcome = catch_unwind(AssertUnwindSafe(|| {
            session.handle_bytes(Instant::now(), &bytes, &mut SessionStorage(&*store))
        }));
        after_panic(&mut session, outcome.is_err());
        session
    })
    .await
}

fn after_panic(session: &mut RelaySession, panicked: bool) {
    if panicked {
        tracing::error!("a sync session panicked; it is closed and its journal reloads from disk");
        session.refuse(
            ErrorCode::Internal,
            "the relay failed on this request; nothing acknowledged was lost",
        );
    }
}

/// Acts on one session event: notifies other sessions of stored changes and
/// notes sync health.
async fn on_event(
    shared: &Arc<Shared>,
    device: &Device,
    mut session: RelaySession,
    event: RelayEvent,
    session_id: u64,
) -> Result<RelaySession, ConnectionError> {
    let store = &shared.store;
    match event {
        RelayEvent::Welcomed { unsent, .. } => {
            store.note_unsent(device.id, unsent);
            if device.office {
                let store = store.clone();
                let health = blocking(move || store.health()).await??;
                session.send_health(health);
            }
        }
        RelayEvent::Stored { journal, changes } => {
            tracing::info!(device = %device.id, %journal, changes, "stored");
            let _ = shared.changed.send((journal, session_id));
            // Housekeeping after the Ack went out, off the sync path: now if
            // overdue, else once the journal has been quiet for a while.
            let now = store.clone();
            tokio::task::spawn_blocking(move || now.maintain(journal));
            let later = store.clone();
            tokio::spawn(async move {
                tokio::time::sleep(crate::limits::COMPACT_WHEN_QUIET_FOR).await;
                let _ = tokio::task::spawn_blocking(move || later.maintain(journal)).await;
            });
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
            store.note_synced(device.id, Utc::now());
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
        RelayEvent::EnrolAgain { secret } => {
            let store = store.clone();
            let id = device.id;
            let granted = blocking(move || store.enrolled_with(&secret, id)).await??;
            tracing::info!(
                device = %device.id,
                told = granted.is_some(),
                "an enrolled device asked again for its enrolment (its answer was lost)"
            );
            session.answer_enrolment(
                granted.map(|(device, centre)| (centre.id, centre.name, device.role())),
            );
        }
        RelayEvent::Closed { reason } => {
            tracing::info!(device = %device.id, %reason, "session closed")
        }
        other => tracing::debug!(device = %device.id, ?other, "session event"),
    }
    Ok(session)
}

/// Runs storage work on a blocking thread.
pub(crate) async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T, ConnectionError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| ConnectionError::Blocking(e.to_string()))
}
