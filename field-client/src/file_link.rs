//! The device's file stream (docs/ATTACHMENTS.md): after a round's records,
//! the files attached here go to the relay on a stream of their own, at a
//! lower priority than the records' stream, so a record made meanwhile goes
//! out at once. Moves bytes between that stream and the sans-IO
//! [`FileTransfer`]; the store is held only for a moment per frame, never
//! while a frame crosses a slow link.

use std::time::Instant;

use relay::transport::{self, TransportError};
use sync_core::files::FileHash;
use sync_core::store::StoreError;
use sync_core::sync::files::{FileEvent, FileTransfer, FileWanted};
use sync_core::{Replica, Store};

use crate::budget::{self, Allowance};
use crate::net::NetError;

/// QUIC priority of the file stream: below the records' stream (0), so
/// QUIC sends a record's frame before the rest of a photo.
const FILE_STREAM_PRIORITY: i32 = -1;

/// Percent of what is left of the month's data budget, at the start of a
/// connection, that its files may use: the records always get the rest,
/// and a month's photos cannot eat the budget that keeps records flowing.
pub const FILE_SHARE_OF_BUDGET_PERCENT: u64 = 50;

/// An open file stream.
pub(crate) struct FileLink {
    transfer: FileTransfer,
    out: Outgoing,
    recv: quinn::RecvStream,
    /// Files wait, but the budget's share for files is used.
    stalled: bool,
    /// Files the relay holds whole since the stream opened.
    pub sent: u64,
}

/// The file stream's sending half: the frame being written, and how much
/// of it is written, a piece at a time (cancel-safe), so that the loop
/// waiting on it also hears of new records and the relay's answers.
pub(crate) struct Outgoing {
    send: quinn::SendStream,
    pending: Vec<u8>,
    written: usize,
}

impl Outgoing {
    fn has_pending(&self) -> bool {
        self.written < self.pending.len()
    }

    /// Writes what QUIC takes of the frame now (a write not completed
    /// wrote nothing); waits for ever when nothing is to be written.
    pub(crate) async fn write_some(&mut self) -> Result<(), NetError> {
        if !self.has_pending() {
            return std::future::pending().await;
        }
        let n = self
            .send
            .write(&self.pending[self.written..])
            .await
            .map_err(|e| NetError::from(TransportError::from(e)))?;
        self.written += n;
        Ok(())
    }
}

/// Waits for the relay's next bytes on the file stream (`None`: it ended);
/// for ever without a stream.
pub(crate) async fn read(
    recv: Option<&mut quinn::RecvStream>,
) -> Result<Option<Vec<u8>>, NetError> {
    match recv {
        Some(recv) => Ok(transport::read_chunk(recv).await?),
        None => std::future::pending().await,
    }
}

/// What the file stream may still send on this connection.
#[derive(Clone, Copy, Debug)]
pub(crate) struct FileAllowance {
    /// Bytes counted at the socket the connection may reach while sending
    /// files; `None` without a budget.
    until: Option<u64>,
}

impl FileAllowance {
    pub(crate) fn of(allowance: Option<Allowance>) -> FileAllowance {
        FileAllowance {
            until: allowance.map(|a| a.left / 100 * FILE_SHARE_OF_BUDGET_PERCENT),
        }
    }

    /// Whether a frame of `len` bytes fits.
    fn allows(self, conn: &quinn::Connection, len: usize) -> bool {
        self.until
            .is_none_or(|until| budget::socket_bytes(conn) + len as u64 <= until)
    }
}

impl FileLink {
    /// Opens the stream and queues every file waiting to be sent.
    pub(crate) async fn open(
        conn: &quinn::Connection,
        replica: &Replica,
    ) -> Result<FileLink, NetError> {
        let (send, recv) = conn.open_bi().await.map_err(TransportError::from)?;
        let _ = send.set_priority(FILE_STREAM_PRIORITY);
        let mut link = FileLink {
            transfer: FileTransfer::new(Instant::now()),
            out: Outgoing {
                send,
                pending: Vec::new(),
                written: 0,
            },
            recv,
            stalled: false,
            sent: 0,
        };
        link.queue_waiting(replica)?;
        Ok(link)
    }

    /// Queues the files waiting in every journal (new ones since the last
    /// call among them), and the files asked for in the app.
    pub(crate) fn queue_waiting(&mut self, replica: &Replica) -> Result<(), NetError> {
        let store = replica.store();
        for info in store.journals().map_err(store_error)? {
            let waiting = store.files_to_send(info.id).map_err(store_error)?;
            self.transfer.send(Instant::now(), info.id.0, waiting);
        }
        for file in wanted(store).map_err(store_error)? {
            self.transfer.fetch(Instant::now(), file);
        }
        Ok(())
    }

    /// Whether files wait in `replica`'s store, to be sent or fetched (a
    /// stream is worth opening).
    pub(crate) fn any_waiting(replica: &Replica) -> Result<bool, NetError> {
        let store = replica.store();
        if !wanted(store).map_err(store_error)?.is_empty() {
            return Ok(true);
        }
        for info in store.journals().map_err(store_error)? {
            if !store
                .files_to_send(info.id)
                .map_err(store_error)?
                .is_empty()
            {
                return Ok(true);
            }
        }
        Ok(false)
    }

    pub(crate) fn is_idle(&self) -> bool {
        self.transfer.is_idle() && !self.has_pending()
    }

    /// Nothing more will move on this stream for now: everything sent, the
    /// stream ended, or the budget's share for files used.
    pub(crate) fn is_done(&self) -> bool {
        self.is_idle() || self.is_closed() || (self.stalled && !self.has_pending())
    }

    pub(crate) fn has_pending(&self) -> bool {
        self.out.has_pending()
    }

    /// The stream's two halves, to wait on both at once; the reading half
    /// is `None` once the stream ended.
    pub(crate) fn halves(&mut self) -> (&mut Outgoing, Option<&mut quinn::RecvStream>) {
        let open = !self.transfer.is_closed();
        (&mut self.out, open.then_some(&mut self.recv))
    }

    /// Takes the next frame to write once the last one is written.
    pub(crate) fn refill(
        &mut self,
        conn: &quinn::Connection,
        replica: &Replica,
        allowance: FileAllowance,
    ) {
        if !self.has_pending() {
            self.out.pending = self
                .next_frame(conn, replica, allowance)
                .unwrap_or_default();
            self.out.written = 0;
        }
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.transfer.is_closed()
    }

    /// The next frame to send, read with the store held for that moment
    /// only; `None` when nothing is to be sent or the budget's share for
    /// files is used.
    fn next_frame(
        &mut self,
        conn: &quinn::Connection,
        replica: &Replica,
        allowance: FileAllowance,
    ) -> Option<Vec<u8>> {
        // A chunk and its frame's header: the most one frame takes.
        const MOST_ONE_FRAME: usize = sync_core::limits::FILE_CHUNK_BYTES + 128;
        self.stalled = !allowance.allows(conn, MOST_ONE_FRAME);
        if self.stalled {
            return None;
        }
        self.transfer
            .poll_transmit(Instant::now(), &mut replica.store())
    }

    pub(crate) fn handle_bytes(&mut self, bytes: &[u8], replica: &Replica) {
        self.transfer
            .handle_bytes(Instant::now(), bytes, &mut replica.store());
    }

    pub(crate) fn handle_stream_closed(&mut self) {
        self.transfer.handle_stream_closed();
    }

    pub(crate) fn handle_timeout(&mut self) {
        self.transfer.handle_timeout(Instant::now());
    }

    pub(crate) fn poll_timeout(&self) -> Option<tokio::time::Instant> {
        self.transfer
            .poll_timeout()
            .map(tokio::time::Instant::from_std)
    }

    /// Acts on what the transfer says; what the volunteer should read goes
    /// to standard error when `say` is true (the daemon's log).
    pub(crate) fn take_events(&mut self, replica: &Replica, say: bool) -> Result<(), NetError> {
        while let Some(event) = self.transfer.poll_event() {
            match event {
                FileEvent::Sent { .. } => {
                    self.sent += 1;
                    if say {
                        eprintln!("sync: the office server holds a file from here");
                    }
                }
                FileEvent::Refused {
                    hash,
                    code,
                    message,
                } => {
                    let store = replica.store();
                    for info in store.journals().map_err(store_error)? {
                        store
                            .forget_upload_unless_referenced(info.id, hash)
                            .map_err(store_error)?;
                    }
                    eprintln!("sync: a file was not taken ({code:?}): {message}");
                }
                FileEvent::Closed { reason } => {
                    eprintln!("sync: the file stream ended: {reason}");
                }
                FileEvent::Fetched { hash } => {
                    forget_wanted(replica.store(), hash).map_err(store_error)?;
                }
                // Asked for again next round (its centre sends it meanwhile).
                FileEvent::Progress { .. } | FileEvent::NotYetAtRelay { .. } => {}
            }
        }
        Ok(())
    }
}

fn store_error(e: StoreError) -> NetError {
    NetError::from(sync_core::ReplicaError::from(e))
}

/// Settings key of the files asked for in the app (an office opening a
/// centre's photo), which the running sync fetches: JSON list of
/// [`WantedFile`].
const WANTED_KEY: &str = "files_wanted";

/// A file asked for in the app, as kept until it is fetched.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
struct WantedFile {
    journal: uuid::Uuid,
    activity: sync_core::ActivityId,
    file: FileHash,
    bytes: u64,
}

/// The files asked for and not fetched yet.
pub fn wanted(store: &Store) -> Result<Vec<FileWanted>, StoreError> {
    let kept: Vec<WantedFile> = store.setting(WANTED_KEY)?.unwrap_or_default();
    Ok(kept
        .into_iter()
        .map(|w| FileWanted {
            journal: w.journal,
            activity: w.activity,
            file: sync_core::store::FileDescription {
                hash: w.file,
                bytes: w.bytes,
            },
        })
        .collect())
}

/// Asks the running sync to fetch a file (kept until fetched; at most
/// `MAX_FILE_REQUESTS_QUEUED` wait: false when that many do).
pub fn want(store: &Store, file: FileWanted) -> Result<bool, StoreError> {
    let mut kept: Vec<WantedFile> = store.setting(WANTED_KEY)?.unwrap_or_default();
    if kept.iter().any(|w| w.file == file.file.hash) {
        return Ok(true);
    }
    if kept.len() >= sync_core::limits::MAX_FILE_REQUESTS_QUEUED {
        return Ok(false);
    }
    kept.push(WantedFile {
        journal: file.journal,
        activity: file.activity,
        file: file.file.hash,
        bytes: file.file.bytes,
    });
    store.set_setting(WANTED_KEY, &kept)?;
    Ok(true)
}

fn forget_wanted(store: &Store, hash: FileHash) -> Result<(), StoreError> {
    let mut kept: Vec<WantedFile> = store.setting(WANTED_KEY)?.unwrap_or_default();
    let before = kept.len();
    kept.retain(|w| w.file != hash);
    if kept.len() != before {
        store.set_setting(WANTED_KEY, &kept)?;
    }
    Ok(())
}

/// What a fetch brought.
#[derive(Debug, Default)]
pub struct Fetched {
    /// Files now whole here.
    pub whole: Vec<FileHash>,
    /// Files the relay does not hold whole yet (its device has not sent
    /// them all), or refused (why).
    pub not_yet: Vec<FileHash>,
    pub refused: Vec<(FileHash, String)>,
}

/// Fetches `wanted` files from the relay this device is enrolled with, on a
/// file stream of a connection of their own, each from the chunks held here
/// on, within the month's data budget (the bytes are counted).
pub async fn fetch(
    data_dir: &std::path::Path,
    store: &Store,
    wanted: Vec<FileWanted>,
) -> Result<Fetched, NetError> {
    let enrolment = crate::net::enrolment(store)?.ok_or(NetError::NotEnrolled)?;
    let allowance = budget::budget_left(store)?;
    let (endpoint, conn) =
        crate::net::connect_enrolled(data_dir, store.device_name(), &enrolment).await?;
    let mut meter = budget::Meter::new(&conn);
    let outcome = budget::within_budget(&conn, allowance, fetch_on(&conn, store, wanted)).await;
    meter.settle(store);
    conn.close(0u32.into(), b"done");
    let _ = tokio::time::timeout(crate::net::ONE_SHOT_CLOSE_WAIT, endpoint.wait_idle()).await;
    outcome
}

async fn fetch_on(
    conn: &quinn::Connection,
    store: &Store,
    wanted: Vec<FileWanted>,
) -> Result<Fetched, NetError> {
    let (mut send, mut recv) = conn.open_bi().await.map_err(TransportError::from)?;
    let mut transfer = FileTransfer::new(Instant::now());
    for file in wanted {
        // More than a stream queues go in the next call (a page of photos
        // is far fewer).
        if !transfer.fetch(Instant::now(), file) {
            break;
        }
    }
    let mut fetched = Fetched::default();
    let mut storage = store;
    loop {
        while let Some(bytes) = transfer.poll_transmit(Instant::now(), &mut storage) {
            transport::write_all(&mut send, &bytes).await?;
        }
        while let Some(event) = transfer.poll_event() {
            match event {
                FileEvent::Fetched { hash } => fetched.whole.push(hash),
                FileEvent::NotYetAtRelay { hash, .. } => fetched.not_yet.push(hash),
                FileEvent::Refused { hash, message, .. } => fetched.refused.push((hash, message)),
                FileEvent::Closed { reason } => return Err(crate::net::closed(reason)),
                FileEvent::Sent { .. } | FileEvent::Progress { .. } => {}
            }
        }
        if transfer.is_idle() {
            let _ = send.finish();
            return Ok(fetched);
        }
        let deadline = transfer.poll_timeout().map(tokio::time::Instant::from_std);
        tokio::select! {
            chunk = transport::read_chunk(&mut recv) => match chunk? {
                Some(bytes) => transfer.handle_bytes(Instant::now(), &bytes, &mut storage),
                None => transfer.handle_stream_closed(),
            },
            _ = crate::net::sleep_until(deadline) => transfer.handle_timeout(Instant::now()),
        }
    }
}
