//! The one event loop of a sync session, for the one-shot `field-client
//! sync` and for the `run` daemon alike: it moves bytes between a QUIC
//! stream and the sans-IO [`ClientSession`], feeds it timeouts, and turns
//! its events into a [`SyncReport`] or a [`NetError`]. The two differ only
//! in how they reach the journals ([`JournalAccess`]) and in how long the
//! session lives ([`Mode`]).

use std::future::Future;
use std::ops::DerefMut;
use std::time::Instant;

use relay::transport::{self, TransportError};
use sync_core::Replica;
use sync_core::sync::ClientEvent;
use uuid::Uuid;

use crate::adopt::adopt_and_resume;
use crate::budget::{self, Allowance, Meter};
use crate::file_link::{self, FileAllowance, FileLink, Outgoing};
use crate::net::{
    self, Enrolment, NetError, RESYNC_EVERY, SyncReport, closed, flush_or_refusal, guarded,
    keep_health, record_attempt, say_erased, sleep_until, start_session,
};
use crate::owner::StoreOwner;

/// How long a connected session lives.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Until everything is in sync once (`field-client sync`).
    Once,
    /// The daemon: syncs everything, then stays connected and syncs again
    /// on every notification from the relay, every local change and every
    /// [`RESYNC_EVERY`], until the connection ends; each finished round's
    /// outcome is recorded for `status` and the app. On a `metered`
    /// connection it ends once everything is in sync.
    Stay { metered: bool },
}

/// How the loop reaches the journals: the one-shot sync owns its replica for
/// the whole session; the daemon shares the process's one open store with
/// the app and takes it for one step at a time.
pub trait JournalAccess {
    /// The journals, until the result is dropped.
    fn hold(
        &mut self,
    ) -> impl Future<Output = Result<impl DerefMut<Target = Replica> + Send, NetError>> + Send;
    /// Resolves when something recorded here should be sent (never, for a
    /// replica no one else records into during the session).
    fn local_change(&self) -> impl Future<Output = ()> + Send;
    /// Resolves when the process is asked to stop (never, for the one-shot
    /// sync: Ctrl-C ends it, and what it stored is acknowledged or not).
    fn stopping(&self) -> impl Future<Output = ()> + Send;
    /// A round of the daemon's session finished: it may have stored
    /// changes (nobody to tell, for the one-shot sync).
    fn round_finished(&self) {}
}

impl JournalAccess for &mut Replica {
    async fn hold(&mut self) -> Result<impl DerefMut<Target = Replica> + Send, NetError> {
        Ok(&mut **self)
    }
    async fn local_change(&self) {
        std::future::pending().await
    }
    async fn stopping(&self) {
        std::future::pending().await
    }
}

impl JournalAccess for &StoreOwner {
    async fn hold(&mut self) -> Result<impl DerefMut<Target = Replica> + Send, NetError> {
        Ok(StoreOwner::hold(self).await?)
    }
    async fn local_change(&self) {
        StoreOwner::local_change(self).await
    }
    async fn stopping(&self) {
        StoreOwner::stopping(self).await
    }
    fn round_finished(&self) {
        self.note_stored();
    }
}

/// Connects to the relay this device is enrolled with and runs one session
/// in `mode`, within the month's data budget; the bytes it used are added to
/// the month's total.
pub async fn connected(
    data_dir: &std::path::Path,
    mut journals: impl JournalAccess,
    mode: Mode,
) -> Result<SyncReport, NetError> {
    let (enrolment, device_name, allowance) = {
        let held = journals.hold().await?;
        let store = held.store();
        let enrolment = net::enrolment(store)?.ok_or(NetError::NotEnrolled)?;
        let allowance = budget::budget_left(store)?;
        (enrolment, store.device_name().to_owned(), allowance)
    };
    let (endpoint, conn) = tokio::select! {
        connected = net::connect_enrolled(data_dir, &device_name, &enrolment) => connected?,
        // Nothing sent yet: nothing to finish.
        () = journals.stopping() => return Err(NetError::Stopped),
    };
    let mut meter = Meter::new(&conn);
    let session = run_session(
        &conn,
        &mut journals,
        (&enrolment, mode),
        allowance,
        &mut meter,
    );
    let outcome = budget::within_budget(&conn, allowance, session).await;
    if let Ok(held) = journals.hold().await {
        meter.settle(held.store());
        if let Err(NetError::BudgetSpent { budget }) = &outcome {
            budget::stopped_at_budget(held.store(), *budget);
        }
    }
    conn.close(0u32.into(), b"done");
    // The process is about to end: give the close time to leave (else the
    // relay holds the connection until its idle timeout). A stopping `run`
    // waits for the close to be complete; a one-shot `sync` only long
    // enough for the packet to go out, not for QUIC's draining period.
    let wait = match (mode, &outcome) {
        (_, Err(NetError::Stopped)) => Some(net::CLOSE_NOTICE_WAIT),
        (Mode::Once, _) => Some(net::ONE_SHOT_CLOSE_WAIT),
        _ => None,
    };
    if let Some(wait) = wait {
        let _ = tokio::time::timeout(wait, endpoint.wait_idle()).await;
    }
    outcome
}

/// Lets the frames already written reach the relay whole before a stopping
/// `run` closes the connection: closing at once drops whatever QUIC has not
/// sent yet, cutting the last frame short (nothing is lost: a change counts
/// as sent only once acknowledged, so it would go again, but the relay
/// would have read it for nothing). Ends the stream, so the relay handles
/// every whole frame it got, and waits at most [`net::CLOSE_NOTICE_WAIT`]
/// for the relay to have received them.
async fn deliver_written(send: &mut quinn::SendStream) {
    if send.finish().is_ok() {
        let _ = tokio::time::timeout(net::CLOSE_NOTICE_WAIT, send.stopped()).await;
    }
}

/// Runs one session on a connection already open (no handshake, only the
/// session's own frames), writing no frame the allowance cannot pay for.
pub async fn run_session(
    conn: &quinn::Connection,
    journals: &mut impl JournalAccess,
    (enrolment, mode): (&Enrolment, Mode),
    allowance: Option<Allowance>,
    meter: &mut Meter,
) -> Result<SyncReport, NetError> {
    let (mut send, mut recv) = conn.open_bi().await.map_err(TransportError::from)?;
    let wanted: Vec<Uuid> = match enrolment.office {
        true => vec![],
        false => vec![enrolment.journal],
    };
    let mut session = start_session(&mut *journals.hold().await?, wanted)?;
    if mode == Mode::Once {
        // Notifications on this stream start no other round.
        session = session.for_one_sync();
    }
    let mut report = SyncReport::default();
    let mut files: Option<FileLink> = None;
    let file_allowance = FileAllowance::of(allowance);
    let mut resync_at = tokio::time::Instant::now() + RESYNC_EVERY;
    // Whether the last step fed the session anything from the store (then an
    // idle session has just finished a round worth recording).
    let mut worked = true;
    let pay = |frame: &[u8]| budget::check_allowance(conn, allowance, frame.len());
    loop {
        flush_or_refusal(&mut session, (&mut send, &mut recv), &pay).await?;
        while let Some(event) = session.poll_event() {
            match event {
                ClientEvent::Uploaded { changes, .. } => {
                    report.uploaded += changes;
                    if mode != Mode::Once {
                        eprintln!("sync: the office server stored {changes} changes from here");
                    }
                }
                ClientEvent::Downloaded { changes, .. } => report.downloaded += changes,
                ClientEvent::Closed { reason } => return Err(closed(reason)),
                ClientEvent::Health { devices } => keep_health(&*journals.hold().await?, devices),
                ClientEvent::NewEpoch { journal, epoch } => {
                    let mut held = journals.hold().await?;
                    let link = (conn, &mut send);
                    adopt_and_resume(link, &mut held, &mut session, (journal, epoch), &pay).await?;
                }
                ClientEvent::Erased {
                    activity,
                    rewritten,
                } => say_erased(activity, rewritten),
                ClientEvent::Idle | ClientEvent::Welcomed { .. } | ClientEvent::Synced { .. } => {}
            }
        }
        // Files move once the records are in sync, a round's new ones
        // queued as the round ends.
        if session.is_idle() {
            let held = journals.hold().await?;
            step_files(conn, &held, &mut files, file_allowance, worked).await?;
            if let Some(link) = files.as_mut() {
                link.take_events(&held, mode != Mode::Once)?;
                report.files_sent = link.sent;
            }
        }
        let files_done = files.as_ref().is_none_or(FileLink::is_done);
        if mode == Mode::Once && session.is_idle() && files_done {
            return Ok(report);
        }
        // Not idle after an adopted epoch: its journal's new round is on.
        if session.is_idle() && std::mem::take(&mut worked) {
            match mode {
                Mode::Once => {}
                Mode::Stay { metered } => {
                    {
                        let held = journals.hold().await?;
                        record_attempt(&held, &Ok(report));
                        meter.settle(held.store());
                    }
                    journals.round_finished();
                    if metered {
                        return Ok(report);
                    }
                }
            }
        }
        let deadline = session.poll_timeout().map(tokio::time::Instant::from_std);
        let file_deadline = files.as_ref().and_then(FileLink::poll_timeout);
        let (file_out, file_in) = match files.as_mut().map(FileLink::halves) {
            Some((out, recv)) => (Some(out), recv),
            None => (None, None),
        };
        let step = tokio::select! {
            written = write_files(file_out) => {
                written?;
                Step::Files
            }
            bytes = file_link::read(file_in) => Step::FileBytes(bytes?),
            _ = sleep_until(file_deadline), if file_deadline.is_some() => Step::FileTimeout,
            chunk = transport::read_chunk(&mut recv) => match chunk? {
                // What else came in goes in the same step (see
                // `transport::read_ready`).
                Some(bytes) => {
                    let (bytes, ended) = transport::read_ready(&mut recv, bytes).await?;
                    Step::Received { bytes, ended }
                }
                None => Step::StreamClosed,
            },
            _ = sleep_until(deadline) => Step::TimedOut,
            () = journals.local_change() => Step::SyncAll,
            // Between frames: the frame being handled or sent was finished.
            () = journals.stopping() => {
                deliver_written(&mut send).await;
                return Err(NetError::Stopped);
            }
            _ = sleep_until(Some(resync_at)), if mode != Mode::Once => {
                resync_at = tokio::time::Instant::now() + RESYNC_EVERY;
                Step::SyncAll
            }
        };
        match step {
            Step::Received { bytes, ended } => {
                let mut held = journals.hold().await?;
                guarded(&mut held, |r| {
                    session.handle_bytes(Instant::now(), &bytes, r)
                })?;
                if ended {
                    session.handle_stream_closed();
                }
                worked = true;
            }
            Step::StreamClosed => session.handle_stream_closed(),
            Step::TimedOut => session.handle_timeout(Instant::now()),
            Step::Files => {}
            Step::FileBytes(bytes) => {
                if let Some(link) = files.as_mut() {
                    let held = journals.hold().await?;
                    match bytes {
                        Some(bytes) => link.handle_bytes(&bytes, &held),
                        None => link.handle_stream_closed(),
                    }
                    link.take_events(&held, mode != Mode::Once)?;
                    report.files_sent = link.sent;
                }
            }
            Step::FileTimeout => {
                if let Some(link) = files.as_mut() {
                    link.handle_timeout();
                }
            }
            Step::SyncAll => {
                let mut held = journals.hold().await?;
                guarded(&mut held, |r| session.request_sync_all(Instant::now(), r))?;
                worked = true;
            }
        }
    }
}

/// What woke the loop.
enum Step {
    /// Bytes from the relay; the stream ended after them.
    Received {
        bytes: Vec<u8>,
        ended: bool,
    },
    StreamClosed,
    TimedOut,
    /// A local change or the resync timer: every journal gets a round.
    SyncAll,
    /// Part of a file frame was written.
    Files,
    /// Bytes from the relay on the file stream (`None`: it ended).
    FileBytes(Option<Vec<u8>>),
    /// The relay's answer on the file stream is overdue.
    FileTimeout,
}

/// Opens the file stream when files wait (again after one that ended, at
/// the end of a round), queues the files a round just recorded when
/// `round_ended`, and takes the next frame to write once the last is written.
async fn step_files(
    conn: &quinn::Connection,
    replica: &Replica,
    files: &mut Option<FileLink>,
    allowance: FileAllowance,
    round_ended: bool,
) -> Result<(), NetError> {
    match files {
        Some(link) if !link.is_closed() => {
            if round_ended {
                link.queue_waiting(replica)?;
            }
        }
        // Ended (the relay timed out or refused it): again next round only,
        // never in a loop.
        Some(_) if !round_ended => return Ok(()),
        _ => {
            *files = None;
            if FileLink::any_waiting(replica)? {
                *files = Some(FileLink::open(conn, replica).await?);
            }
        }
    }
    if let Some(link) = files.as_mut() {
        link.refill(conn, replica, allowance);
    }
    Ok(())
}

/// Writes part of the file frame being written; never resolves without one.
async fn write_files(out: Option<&mut Outgoing>) -> Result<(), NetError> {
    match out {
        Some(out) => out.write_some().await,
        None => std::future::pending().await,
    }
}
