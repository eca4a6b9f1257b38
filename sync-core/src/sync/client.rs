//! The field client's side of a session.

use std::collections::{BTreeMap, VecDeque};
use std::time::Instant;

use automerge::{Change, ChangeHash};
use uuid::Uuid;

use super::wire::{DecodeError, FrameBuffer};
use super::{
    Access, ClientStorage, ErrorCode, Frame, JournalGrant, PROTOCOL_VERSION, SessionError,
    batch_digest, batch_frame, error_frame, into_batches, unpack_batch,
};
use crate::limits::{
    MAX_ROUNDS_WITHOUT_PROGRESS, SESSION_HANDSHAKE_TIMEOUT, SESSION_REPLY_TIMEOUT,
};

/// What happened in a client session, for the shell to report or act on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ClientEvent {
    /// The relay accepted us and offered these journals.
    Welcomed { journals: Vec<JournalGrant> },
    /// The relay durably stored this many of our changes.
    Uploaded { journal: Uuid, changes: usize },
    /// We durably stored this many changes from the relay.
    Downloaded { journal: Uuid, changes: usize },
    /// The journal is in sync with the relay (as of this moment).
    Synced { journal: Uuid },
    /// Every offered journal is in sync and nothing is queued.
    Idle,
    /// The session ended; the shell should close the stream.
    Closed { reason: SessionError },
}

/// Where one journal's round is.
#[derive(Debug)]
enum Round {
    /// `Open` sent, waiting for `Heads`.
    Opening,
    /// A batch is in flight; `rest` waits for its `Ack`.
    Uploading {
        in_flight: Vec<ChangeHash>,
        rest: VecDeque<Vec<Change>>,
    },
    /// `Pull` sent; batches arrive until one says no more follow.
    Pulling,
}

#[derive(Debug, PartialEq, Eq)]
enum State {
    Greeting,
    Ready,
    Closed,
}

/// A client session: one ordered pipeline to the relay, one journal round at a time.
#[derive(Debug)]
pub struct ClientSession {
    state: State,
    software: String,
    wanted: Vec<Uuid>,
    grants: BTreeMap<Uuid, JournalGrant>,
    queue: VecDeque<Uuid>,
    active: Option<(Uuid, Round)>,
    /// Heads at the start of the active round, to detect rounds without progress.
    round_start_heads: Vec<ChangeHash>,
    moved_this_round: bool,
    rounds_without_progress: BTreeMap<Uuid, u32>,
    frames: FrameBuffer,
    out: VecDeque<Vec<u8>>,
    events: VecDeque<ClientEvent>,
    deadline: Option<Instant>,
}

impl ClientSession {
    /// Starts a session that wants `journals` (empty: every journal it may access).
    pub fn new(now: Instant, software: &str, journals: Vec<Uuid>) -> ClientSession {
        let mut s = ClientSession {
            state: State::Greeting,
            software: software.to_owned(),
            wanted: journals,
            grants: BTreeMap::new(),
            queue: VecDeque::new(),
            active: None,
            round_start_heads: Vec::new(),
            moved_this_round: false,
            rounds_without_progress: BTreeMap::new(),
            frames: FrameBuffer::default(),
            out: VecDeque::new(),
            events: VecDeque::new(),
            deadline: Some(now + SESSION_HANDSHAKE_TIMEOUT),
        };
        let hello = Frame::Hello {
            version: PROTOCOL_VERSION,
            software: s.software.clone(),
            journals: s.wanted.clone(),
        };
        s.send(&hello);
        s
    }

    /// Journals the relay granted, once welcomed.
    pub fn grants(&self) -> impl Iterator<Item = &JournalGrant> {
        self.grants.values()
    }

    pub fn is_closed(&self) -> bool {
        self.state == State::Closed
    }

    /// True when welcomed, no round is running and none is queued.
    pub fn is_idle(&self) -> bool {
        self.state == State::Ready && self.active.is_none() && self.queue.is_empty()
    }

    /// Asks for another round of `journal` (after a local change, or a timer).
    pub fn request_sync(&mut self, now: Instant, journal: Uuid, storage: &mut impl ClientStorage) {
        if self.state == State::Closed || !self.grants.contains_key(&journal) {
            return;
        }
        self.enqueue(journal);
        self.start_next(now, storage);
    }

    /// Asks for a round of every granted journal.
    pub fn request_sync_all(&mut self, now: Instant, storage: &mut impl ClientStorage) {
        let all: Vec<Uuid> = self.grants.keys().copied().collect();
        all.into_iter().for_each(|j| self.enqueue(j));
        self.start_next(now, storage);
    }

    /// Feeds bytes received from the relay.
    pub fn handle_bytes(&mut self, now: Instant, bytes: &[u8], storage: &mut impl ClientStorage) {
        if self.state == State::Closed {
            return;
        }
        self.frames.extend(bytes);
        loop {
            match self.frames.next_frame() {
                Ok(Some(frame)) => {
                    if let Err(e) = self.handle_frame(now, frame, storage) {
                        self.fail(e);
                    }
                    if self.state == State::Closed {
                        return;
                    }
                }
                Ok(None) => return,
                Err(e) => return self.fail_decode(e),
            }
        }
    }

    /// Tells the session the time; past its deadline it closes.
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.deadline.is_some_and(|d| now >= d) && self.state != State::Closed {
            self.close(SessionError::TimedOut);
        }
    }

    /// The stream to the relay ended.
    pub fn handle_stream_closed(&mut self) {
        if self.state != State::Closed {
            self.close(SessionError::Closed);
        }
    }

    pub fn poll_transmit(&mut self) -> Option<Vec<u8>> {
        self.out.pop_front()
    }

    pub fn poll_event(&mut self) -> Option<ClientEvent> {
        self.events.pop_front()
    }

    pub fn poll_timeout(&self) -> Option<Instant> {
        self.deadline
    }

    fn handle_frame(
        &mut self,
        now: Instant,
        frame: Frame,
        storage: &mut impl ClientStorage,
    ) -> Result<(), SessionError> {
        match (frame, &self.state) {
            (Frame::Welcome { version, journals }, State::Greeting) => {
                self.on_welcome(now, version, journals, storage)
            }
            (Frame::Error { code, message }, _) => Err(SessionError::Refused { code, message }),
            (Frame::Notify { journal }, State::Ready) => {
                self.request_sync(now, journal, storage);
                Ok(())
            }
            (
                Frame::Heads {
                    journal,
                    heads,
                    has_acked,
                },
                State::Ready,
            ) => self.on_heads(now, journal, &heads, has_acked, storage),
            (
                Frame::Ack {
                    journal,
                    heads,
                    count,
                    digest,
                },
                State::Ready,
            ) => self.on_ack(now, journal, &heads, (count, digest), storage),
            (
                Frame::Changes {
                    journal,
                    more,
                    count,
                    digest,
                    bundle,
                },
                State::Ready,
            ) => {
                let changes = unpack_batch(count, &digest, &bundle)?;
                self.on_changes(now, journal, more, changes, storage)
            }
            (other, _) => Err(SessionError::Protocol(format!(
                "unexpected frame {}",
                frame_name(&other)
            ))),
        }
    }

    fn on_welcome(
        &mut self,
        now: Instant,
        version: u16,
        journals: Vec<JournalGrant>,
        storage: &mut impl ClientStorage,
    ) -> Result<(), SessionError> {
        if version != PROTOCOL_VERSION {
            return Err(SessionError::Protocol(format!(
                "relay answered with protocol version {version}"
            )));
        }
        for grant in &journals {
            storage
                .ensure_journal(grant.journal, &grant.centre)
                .map_err(|e| SessionError::Storage(e.message))?;
        }
        self.grants = journals.iter().map(|g| (g.journal, g.clone())).collect();
        self.state = State::Ready;
        self.deadline = None;
        self.events.push_back(ClientEvent::Welcomed { journals });
        self.request_sync_all(now, storage);
        if self.active.is_none() {
            self.events.push_back(ClientEvent::Idle);
        }
        Ok(())
    }

    fn on_heads(
        &mut self,
        now: Instant,
        journal: Uuid,
        relay_heads: &[ChangeHash],
        has_acked: bool,
        storage: &mut impl ClientStorage,
    ) -> Result<(), SessionError> {
        self.expect_round(journal, |r| matches!(r, Round::Opening))?;
        let may_write = self
            .grants
            .get(&journal)
            .is_some_and(|g| g.access == Access::ReadWrite);
        let mut base: Vec<ChangeHash> = relay_heads.to_vec();
        base.extend(crate::journal::genesis_heads());
        if has_acked {
            base.extend(storage.acked_heads(journal).map_err(storage_error)?);
        }
        let to_send = if may_write {
            storage
                .changes_since(journal, &base)
                .map_err(storage_error)?
        } else {
            vec![]
        };
        let mut batches: VecDeque<Vec<Change>> = into_batches(to_send).into();
        match batches.pop_front() {
            Some(first) => {
                let rest = std::mem::take(&mut batches);
                self.send_batch(now, journal, first, rest, storage)
            }
            None => {
                // The relay holds all we have: record that as acknowledged.
                let known: Vec<_> = relay_heads.to_vec();
                storage
                    .mark_acknowledged(journal, &known)
                    .map_err(storage_error)?;
                self.pull(now, journal, storage)
            }
        }
    }

    fn send_batch(
        &mut self,
        now: Instant,
        journal: Uuid,
        batch: Vec<Change>,
        rest: VecDeque<Vec<Change>>,
        storage: &mut impl ClientStorage,
    ) -> Result<(), SessionError> {
        let in_flight: Vec<ChangeHash> = batch.iter().map(Change::hash).collect();
        let frame =
            batch_frame(storage, journal, &batch, !rest.is_empty()).map_err(storage_error)?;
        let bytes = frame
            .encode()
            .map_err(|e| SessionError::Protocol(e.to_string()))?;
        self.out.push_back(bytes);
        self.active = Some((journal, Round::Uploading { in_flight, rest }));
        self.deadline = Some(now + SESSION_REPLY_TIMEOUT);
        Ok(())
    }

    fn on_ack(
        &mut self,
        now: Instant,
        journal: Uuid,
        relay_heads: &[ChangeHash],
        (count, digest): (u32, [u8; 32]),
        storage: &mut impl ClientStorage,
    ) -> Result<(), SessionError> {
        let Some((_, Round::Uploading { in_flight, rest })) = self
            .active
            .take_if(|(j, r)| *j == journal && matches!(r, Round::Uploading { .. }))
        else {
            return Err(SessionError::Protocol(
                "an acknowledgement nobody asked for".into(),
            ));
        };
        if count as usize != in_flight.len() || digest != batch_digest(&in_flight) {
            return Err(SessionError::Protocol(
                "the acknowledgement does not match the batch sent".into(),
            ));
        }
        let mut covered = in_flight.clone();
        covered.extend_from_slice(relay_heads);
        storage
            .mark_acknowledged(journal, &covered)
            .map_err(storage_error)?;
        self.moved_this_round = true;
        self.events.push_back(ClientEvent::Uploaded {
            journal,
            changes: in_flight.len(),
        });
        let mut rest = rest;
        match rest.pop_front() {
            Some(next) => self.send_batch(now, journal, next, rest, storage),
            None => self.pull(now, journal, storage),
        }
    }

    fn pull(
        &mut self,
        now: Instant,
        journal: Uuid,
        storage: &mut impl ClientStorage,
    ) -> Result<(), SessionError> {
        let heads = storage.heads(journal).map_err(storage_error)?;
        self.send(&Frame::Pull { journal, heads });
        self.active = Some((journal, Round::Pulling));
        self.deadline = Some(now + SESSION_REPLY_TIMEOUT);
        Ok(())
    }

    fn on_changes(
        &mut self,
        now: Instant,
        journal: Uuid,
        more: bool,
        changes: Vec<Change>,
        storage: &mut impl ClientStorage,
    ) -> Result<(), SessionError> {
        self.expect_round(journal, |r| matches!(r, Round::Pulling))?;
        let n = changes.len();
        if n > 0 {
            storage
                .apply_durably(journal, changes)
                .map_err(|e| match e.peer_fault {
                    true => SessionError::Protocol(e.message),
                    false => SessionError::Storage(e.message),
                })?;
            self.moved_this_round = true;
            self.events.push_back(ClientEvent::Downloaded {
                journal,
                changes: n,
            });
        }
        self.deadline = Some(now + SESSION_REPLY_TIMEOUT);
        if !more {
            self.finish_round(journal, storage)?;
            self.start_next(now, storage);
            if self.active.is_none() {
                self.events.push_back(ClientEvent::Idle);
            }
        }
        Ok(())
    }

    fn finish_round(
        &mut self,
        journal: Uuid,
        storage: &mut impl ClientStorage,
    ) -> Result<(), SessionError> {
        self.active = None;
        self.deadline = None;
        let heads = storage.heads(journal).map_err(storage_error)?;
        let progressed = self.moved_this_round || heads != self.round_start_heads;
        let idle_rounds = self.rounds_without_progress.entry(journal).or_insert(0);
        *idle_rounds = if progressed { 0 } else { *idle_rounds + 1 };
        if *idle_rounds > MAX_ROUNDS_WITHOUT_PROGRESS {
            return Err(SessionError::NoProgress);
        }
        self.events.push_back(ClientEvent::Synced { journal });
        Ok(())
    }

    fn enqueue(&mut self, journal: Uuid) {
        let active = self.active.as_ref().is_some_and(|(j, _)| *j == journal);
        if !self.queue.contains(&journal) && !active {
            self.queue.push_back(journal);
        } else if active && !self.queue.contains(&journal) {
            // A change arrived mid-round: run one more round afterwards.
            self.queue.push_back(journal);
        }
    }

    fn start_next(&mut self, now: Instant, storage: &mut impl ClientStorage) {
        if self.state != State::Ready || self.active.is_some() {
            return;
        }
        let Some(journal) = self.queue.pop_front() else {
            return;
        };
        let opened = (|| -> Result<Frame, SessionError> {
            let heads = storage.heads(journal).map_err(storage_error)?;
            let acked = storage.acked_heads(journal).map_err(storage_error)?;
            self.round_start_heads = heads.clone();
            Ok(Frame::Open {
                journal,
                heads,
                acked,
            })
        })();
        match opened {
            Ok(open) => {
                self.moved_this_round = false;
                self.send(&open);
                self.active = Some((journal, Round::Opening));
                self.deadline = Some(now + SESSION_REPLY_TIMEOUT);
            }
            Err(e) => self.fail(e),
        }
    }

    fn expect_round(
        &self,
        journal: Uuid,
        want: impl Fn(&Round) -> bool,
    ) -> Result<(), SessionError> {
        match &self.active {
            Some((j, round)) if *j == journal && want(round) => Ok(()),
            _ => Err(SessionError::Protocol(
                "a reply for a round that is not running".into(),
            )),
        }
    }

    fn send(&mut self, frame: &Frame) {
        match frame.encode() {
            Ok(bytes) => self.out.push_back(bytes),
            Err(e) => self.close(SessionError::Protocol(format!(
                "cannot encode a frame: {e}"
            ))),
        }
    }

    fn fail_decode(&mut self, e: DecodeError) {
        let code = if matches!(e, DecodeError::TooLarge(_)) {
            ErrorCode::TooLarge
        } else {
            ErrorCode::Malformed
        };
        self.out.extend(error_frame(code, &e.to_string()));
        self.close(SessionError::Protocol(e.to_string()));
    }

    fn fail(&mut self, e: SessionError) {
        let code = match &e {
            SessionError::Refused { .. } | SessionError::Closed => None,
            SessionError::Storage(_) => Some(ErrorCode::Internal),
            SessionError::NoProgress => Some(ErrorCode::LimitReached),
            _ => Some(ErrorCode::Malformed),
        };
        if let Some(code) = code {
            self.out.extend(error_frame(code, &e.to_string()));
        }
        self.close(e);
    }

    fn close(&mut self, reason: SessionError) {
        self.state = State::Closed;
        self.active = None;
        self.queue.clear();
        self.deadline = None;
        self.events.push_back(ClientEvent::Closed { reason });
    }
}

fn storage_error(e: super::StorageFailure) -> SessionError {
    SessionError::Storage(e.message)
}

pub(super) fn frame_name(frame: &Frame) -> &'static str {
    match frame {
        Frame::Hello { .. } => "Hello",
        Frame::Welcome { .. } => "Welcome",
        Frame::Open { .. } => "Open",
        Frame::Heads { .. } => "Heads",
        Frame::Changes { .. } => "Changes",
        Frame::Ack { .. } => "Ack",
        Frame::Pull { .. } => "Pull",
        Frame::Notify { .. } => "Notify",
        Frame::Error { .. } => "Error",
        Frame::Enrol { .. } => "Enrol",
        Frame::Enrolled { .. } => "Enrolled",
    }
}
