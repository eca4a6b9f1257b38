//! The field client's side of a session.

use std::collections::{BTreeMap, BTreeSet, HashSet, VecDeque};
use std::time::Instant;

use automerge::{Change, ChangeHash};
use uuid::Uuid;

use super::ahead::{HandlesFrames, Unpacked, decode_refusal, handle_frames, unpacked_now_or_ahead};
use super::wire::{DecodeError, FrameBuffer};
use super::{
    Access, BatchChange, BatchDigest, ClientStorage, DeviceHealth, ErrorCode, Frame, JournalGrant,
    PROTOCOL_VERSION, ProtocolError, Received, SessionError, VersionMismatch, attested_hashes,
    batch_digest, batch_frame, error_frame,
};
use crate::limits::{
    MAX_BATCHES_IN_FLIGHT, MAX_HEADS, MAX_PLAN_CHANGES, MAX_ROUNDS_WITHOUT_PROGRESS,
    SESSION_HANDSHAKE_TIMEOUT, SESSION_REPLY_TIMEOUT,
};

/// What happened in a client session, for the shell to report or act on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ClientEvent {
    /// The relay accepted us and offered these journals.
    Welcomed { journals: Vec<JournalGrant> },
    /// The relay's sync health of every device (sent to office devices).
    Health { devices: Vec<DeviceHealth> },
    /// The relay holds a newer epoch of `journal` (it was rewritten by an
    /// erasure): this device must adopt it before it can sync that journal.
    NewEpoch { journal: Uuid, epoch: u32 },
    /// The relay answered this device's request to erase `activity`:
    /// `rewritten` is the journal that held it and its new epoch (a
    /// `NewEpoch` follows when this device must adopt it), `None` when no
    /// journal at the relay holds it.
    Erased {
        activity: Uuid,
        rewritten: Option<(Uuid, u32)>,
    },
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

/// One journal's round: `Open` sent; it ends when the relay's `Heads` came,
/// every batch sent was acknowledged and the relay's download ended.
#[derive(Debug)]
struct Round {
    journal: Uuid,
    /// The journal's epoch this device named in `Open`.
    epoch: u32,
    /// This device's heads named in `Open`: the round ends in sync only when
    /// the relay holds them all.
    start_heads: Vec<ChangeHash>,
    /// The acknowledged heads named in `Open` (what the relay's `has_acked`
    /// is about).
    acked: Vec<ChangeHash>,
    /// The relay's heads as it last stated them in this round: in `Heads`,
    /// then in each `Ack`.
    relay_heads: Vec<ChangeHash>,
    /// The relay's `Heads` said it no longer holds heads it acknowledged
    /// earlier in this same session.
    lost_acknowledged: bool,
    /// The relay's `Heads` arrived.
    heard: bool,
    /// Batches sent and not yet acknowledged, oldest first (the relay
    /// acknowledges them in order), at most [`MAX_BATCHES_IN_FLIGHT`].
    in_flight: VecDeque<InFlight>,
    /// Changes still to upload after the batches in flight, in causal order.
    rest: VecDeque<ChangeHash>,
    /// The relay's last download batch arrived.
    downloaded: bool,
    /// Heads of what this round downloaded: the relay held all of it (it
    /// sends only what it stored), possibly more than its stated heads (it
    /// builds each download batch when the stream takes it, so changes other
    /// devices stored meanwhile come along).
    downloaded_tips: Vec<ChangeHash>,
}

#[derive(Debug)]
struct InFlight {
    hashes: Vec<ChangeHash>,
    /// The batch's own heads (its changes no other change of it depends on):
    /// with the relay's heads, what its `Ack` lets this device record as
    /// acknowledged. Recording every hash of a batch (up to
    /// `MAX_CHANGES_PER_BATCH`) would make the next `Open`'s list of
    /// acknowledged heads longer than `MAX_HEADS`, and unencodable.
    heads: Vec<ChangeHash>,
    /// Sent right after `Open`, from the acknowledged heads.
    before_heads: bool,
}

impl Round {
    fn is_done(&self) -> bool {
        self.heard && self.in_flight.is_empty() && self.rest.is_empty() && self.downloaded
    }
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
    active: Option<Round>,
    /// The erasure asked of the relay and not answered yet (no round runs
    /// meanwhile: the answer may change a journal's epoch).
    erasing: Option<Uuid>,
    /// Erasures asked in this session: each is asked once per session.
    erasures_asked: BTreeSet<Uuid>,
    /// One sync only (`field-client sync`): `Notify` starts no round (see
    /// [`ClientSession::for_one_sync`]).
    once: bool,
    /// Rounds in a row, per journal, that did not end in sync (see
    /// [`ClientSession::finish_round`]); past `MAX_ROUNDS_WITHOUT_PROGRESS`
    /// the session ends.
    rounds_without_progress: BTreeMap<Uuid, u32>,
    /// Journals (and their epoch) for which this session recorded heads the
    /// relay acknowledged: from then on, a `Heads` saying the relay lacks
    /// the acknowledged heads means it lost what it acknowledged minutes ago.
    acknowledged_here: BTreeSet<(Uuid, u32)>,
    frames: FrameBuffer,
    out: VecDeque<Vec<u8>>,
    events: VecDeque<ClientEvent>,
    deadline: Option<Instant>,
}

impl ClientSession {
    /// Starts a session that wants `journals` (empty: every journal it may access).
    ///
    /// The first journal named opens at once, right behind `Hello`, with its early
    /// batch: the relay reads frames in order, so the common sync is one round trip
    /// after the connection, not two. A named journal is one this device writes
    /// (its centre's); a device that only reads names none and opens after `Welcome`.
    pub fn new(
        now: Instant,
        software: &str,
        journals: Vec<Uuid>,
        storage: &mut impl ClientStorage,
    ) -> ClientSession {
        let mut s = ClientSession {
            state: State::Greeting,
            software: software.to_owned(),
            wanted: journals,
            grants: BTreeMap::new(),
            queue: VecDeque::new(),
            active: None,
            erasing: None,
            erasures_asked: BTreeSet::new(),
            once: false,
            rounds_without_progress: BTreeMap::new(),
            acknowledged_here: BTreeSet::new(),
            frames: FrameBuffer::default(),
            out: VecDeque::new(),
            events: VecDeque::new(),
            deadline: Some(now + SESSION_HANDSHAKE_TIMEOUT),
        };
        // Only informs the office; a store that cannot count sends "unknown".
        let unsent = storage.unsent().ok();
        let hello = Frame::Hello {
            version: PROTOCOL_VERSION,
            software: s.software.clone(),
            unsent,
            journals: s.wanted.clone(),
        };
        s.send(&hello);
        if let Some(&first) = s.wanted.first() {
            if let Err(e) = s.open(now, first, storage) {
                s.fail(e);
            }
            s.deadline = Some(now + SESSION_HANDSHAKE_TIMEOUT);
        }
        s
    }

    /// Makes this a session for one sync (`field-client sync`, which returns
    /// once every journal is in sync): the relay's `Notify` starts no round.
    ///
    /// Why that is right: after `Welcome` every granted journal has its
    /// round running, queued or done; a round's download brings everything
    /// the relay stored before the download was made, so what other devices
    /// store later is for the next sync. Following notifications instead
    /// would keep a one-shot sync running for as long as the centre's other
    /// devices keep storing (fifty of them syncing at once send it up to
    /// forty-nine notifications), for nothing this sync promised.
    #[must_use]
    pub fn for_one_sync(mut self) -> ClientSession {
        self.once = true;
        self
    }

    /// Journals the relay granted, once welcomed.
    pub fn grants(&self) -> impl Iterator<Item = &JournalGrant> {
        self.grants.values()
    }

    pub fn is_closed(&self) -> bool {
        self.state == State::Closed
    }

    /// True when welcomed, no round or erasure is running and none is queued.
    pub fn is_idle(&self) -> bool {
        self.state == State::Ready && !self.is_busy() && self.queue.is_empty()
    }

    /// A round or an erasure is waiting for the relay.
    fn is_busy(&self) -> bool {
        self.active.is_some() || self.erasing.is_some()
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
        // Out of `self` while its frames are handled: the next frame's batch
        // is taken from it and unpacked beside (`ahead`).
        let mut frames = std::mem::take(&mut self.frames);
        frames.extend(bytes);
        handle_frames(self, now, &mut frames, storage);
        self.frames = frames;
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
        unpacked: Option<Unpacked>,
        storage: &mut impl ClientStorage,
    ) -> Result<(), SessionError> {
        match (frame, &self.state) {
            (Frame::Welcome { version, journals }, State::Greeting) => {
                self.on_welcome(now, version, journals, storage)
            }
            (
                Frame::Error {
                    code: ErrorCode::UnsupportedVersion,
                    message,
                },
                _,
            ) => {
                // The relay's refusal: nothing to answer, only to understand.
                self.close(VersionMismatch::from_refusal(&message).into());
                Ok(())
            }
            (Frame::Error { code, message }, _) => Err(SessionError::Refused { code, message }),
            (Frame::Notify { journal }, State::Ready) => {
                self.on_notify(now, journal, storage);
                Ok(())
            }
            (Frame::Health { devices }, State::Ready) => {
                self.events.push_back(ClientEvent::Health { devices });
                Ok(())
            }
            (
                Frame::Erased {
                    activity,
                    rewritten,
                },
                State::Ready,
            ) => self.on_erased(now, activity, rewritten, storage),
            (
                Frame::Heads {
                    journal,
                    epoch,
                    heads,
                    has_acked,
                },
                State::Ready,
            ) => {
                if epoch != self.round_mut(journal)?.epoch {
                    return self.on_other_epoch(now, journal, epoch, storage);
                }
                self.on_heads(now, journal, &heads, has_acked, storage)
            }
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
                    sent_before_heads: false,
                    count,
                    digest,
                    encoding,
                    bundle,
                    attested,
                },
                State::Ready,
            ) => {
                let changes = unpacked_now_or_ahead(unpacked, (count, &digest, encoding, &bundle))?;
                let attested = attested_hashes(changes.changes(), &attested);
                self.on_changes(now, journal, more, (changes, attested), storage)
            }
            (other, _) => Err(ProtocolError::UnexpectedFrame(frame_name(&other)).into()),
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
            return Err(VersionMismatch::with_relay(version).into());
        }
        for grant in &journals {
            storage.ensure_journal(grant).map_err(SessionError::from)?;
        }
        self.grants = journals.iter().map(|g| (g.journal, g.clone())).collect();
        self.state = State::Ready;
        self.events.push_back(ClientEvent::Welcomed { journals });
        let opened = self.active.as_ref().map(|round| round.journal);
        match opened {
            Some(journal) if !self.grants.contains_key(&journal) => {
                return Err(ProtocolError::OutOfTurn(
                    "the relay did not grant the journal opened with Hello",
                )
                .into());
            }
            // The round opened with Hello goes on under its reply deadline.
            Some(_) => self.deadline = Some(now + SESSION_REPLY_TIMEOUT),
            None => self.deadline = None,
        }
        let others: Vec<Uuid> = self
            .grants
            .keys()
            .filter(|j| Some(**j) != opened)
            .copied()
            .collect();
        others.into_iter().for_each(|j| self.enqueue(j));
        self.start_next(now, storage);
        if !self.is_busy() {
            self.events.push_back(ClientEvent::Idle);
        }
        Ok(())
    }

    /// The relay's journal is another epoch than ours: this round ends with
    /// nothing exchanged (the relay stores nothing of it) and the shell is told.
    fn on_other_epoch(
        &mut self,
        now: Instant,
        journal: Uuid,
        epoch: u32,
        storage: &mut impl ClientStorage,
    ) -> Result<(), SessionError> {
        let mine = storage.epoch(journal).map_err(SessionError::from)?;
        self.round_mut(journal)?;
        if epoch < mine {
            return Err(SessionError::RelayBehind {
                journal,
                relay_epoch: epoch,
                ours: mine,
            });
        }
        self.active = None;
        self.deadline = None;
        if epoch == mine {
            // Adopted since this round opened (an erasure this device asked
            // for): the round goes again, on the new epoch.
            self.enqueue(journal);
        } else {
            self.events
                .push_back(ClientEvent::NewEpoch { journal, epoch });
        }
        self.start_next(now, storage);
        if !self.is_busy() {
            self.events.push_back(ClientEvent::Idle);
        }
        Ok(())
    }

    /// `Notify(J)`: another device's changes to J reached the relay. At most
    /// one more round of J follows, however many notifications come:
    ///
    /// - Before the `Heads` of J's running round: none. The relay sends
    ///   `Notify` only after it stored the changes, and on the same ordered
    ///   stream as its replies, so a `Notify` read before `Heads` was sent
    ///   before the relay read this round's `Open`; the round's download,
    ///   made after that, brings those changes.
    /// - After `Heads`, or while J's round is queued or no round runs: one
    ///   round, queued behind the running one (`enqueue` keeps a journal in
    ///   the queue once). The changes may have been stored after the
    ///   download was made, so the round that is running may lack them.
    ///
    /// Such a round often finds that an earlier download brought the changes
    /// already: it moves nothing, ends in sync, and is no failure (see
    /// [`Self::finish_round`]). In a one-sync session notifications start
    /// nothing (see [`Self::for_one_sync`]).
    fn on_notify(&mut self, now: Instant, journal: Uuid, storage: &mut impl ClientStorage) {
        if self.once {
            return;
        }
        if self
            .active
            .as_ref()
            .is_some_and(|round| round.journal == journal && !round.heard)
        {
            return;
        }
        self.request_sync(now, journal, storage);
    }

    fn on_heads(
        &mut self,
        now: Instant,
        journal: Uuid,
        relay_heads: &[ChangeHash],
        has_acked: bool,
        storage: &mut impl ClientStorage,
    ) -> Result<(), SessionError> {
        let acknowledged_here = &self.acknowledged_here;
        let round = match &mut self.active {
            Some(round) if round.journal == journal => round,
            _ => return Err(not_running()),
        };
        if round.heard {
            return Err(ProtocolError::OutOfTurn("a second Heads in one round").into());
        }
        round.heard = true;
        round.relay_heads = relay_heads.to_vec();
        // `Open` named heads the relay acknowledged in this very session, and
        // it says it lacks them: it lost acknowledged changes (a relay
        // restored from a backup says so too, but only in a session's first
        // round of the journal: its restart ended every earlier session).
        round.lost_acknowledged = !has_acked && acknowledged_here.contains(&(journal, round.epoch));
        let acked = round.acked.clone();
        let early = round.in_flight.front().is_some_and(|b| b.before_heads);
        if early && has_acked {
            // The relay holds what the early batch builds on: the rest of
            // the plan follows it.
            self.deadline = Some(now + SESSION_REPLY_TIMEOUT);
            return self.fill_pipeline(now, storage);
        }
        if early {
            // The relay does not hold the heads it acknowledged (restored from
            // a backup): it dropped the early batch. Start again from its heads.
            round.in_flight.clear();
            round.rest.clear();
        }
        let mut base: Vec<ChangeHash> = relay_heads.to_vec();
        base.extend(crate::journal::genesis_heads());
        if has_acked {
            base.extend(acked);
        }
        let plan = self.plan_since(journal, &base, storage)?;
        match plan.is_empty() {
            false => {
                if let Some(round) = self.active.as_mut() {
                    round.rest = plan;
                }
                self.fill_pipeline(now, storage)
            }
            true => {
                // The relay holds all we have: record that as acknowledged
                // (all of `base`: its heads alone may be changes this device
                // has not downloaded yet, which say nothing here).
                storage
                    .mark_acknowledged(journal, &base)
                    .map_err(SessionError::from)?;
                self.acknowledged_here
                    .insert((journal, self.active_epoch()));
                self.maybe_finish(now, storage)
            }
        }
    }

    /// The epoch of the active round (0 when none runs).
    fn active_epoch(&self) -> u32 {
        self.active.as_ref().map_or(0, |round| round.epoch)
    }

    /// True when this device may write `journal`, so uploads to it.
    fn may_write(&self, journal: Uuid) -> bool {
        match self.state {
            // Opened with Hello: a journal named there is one this device writes.
            State::Greeting => self.wanted.contains(&journal),
            _ => self
                .grants
                .get(&journal)
                .is_some_and(|g| g.access == Access::ReadWrite),
        }
    }

    /// Our changes that the holder of `base` lacks, in causal order, at most
    /// [`MAX_PLAN_CHANGES`] (the rest go in the next round); none when this
    /// device may not write the journal. Hashes only: each batch is built
    /// when it is sent.
    fn plan_since(
        &self,
        journal: Uuid,
        base: &[ChangeHash],
        storage: &mut impl ClientStorage,
    ) -> Result<VecDeque<ChangeHash>, SessionError> {
        if !self.may_write(journal) {
            return Ok(VecDeque::new());
        }
        let plan = storage
            .missing(journal, base, MAX_PLAN_CHANGES)
            .map_err(SessionError::from)?;
        Ok(plan.into())
    }

    /// Sends batches from the round's remaining plan until
    /// [`MAX_BATCHES_IN_FLIGHT`] await their `Ack`: the relay stores one
    /// while the next is on its way. Only once the relay's `Heads` came (an
    /// early batch goes alone: it may be dropped).
    fn fill_pipeline(
        &mut self,
        now: Instant,
        storage: &mut impl ClientStorage,
    ) -> Result<(), SessionError> {
        while let Some(round) = self.active.as_ref()
            && round.heard
            && round.in_flight.len() < MAX_BATCHES_IN_FLIGHT
            && !round.rest.is_empty()
        {
            self.send_batch(now, false, storage)?;
        }
        Ok(())
    }

    /// Sends the next batch of the active round's plan.
    fn send_batch(
        &mut self,
        now: Instant,
        before_heads: bool,
        storage: &mut impl ClientStorage,
    ) -> Result<(), SessionError> {
        let Some(round) = self.active.as_mut() else {
            return Err(ProtocolError::OutOfTurn("a batch outside a round").into());
        };
        let batch = storage
            .batch(round.journal, round.rest.make_contiguous())
            .map_err(SessionError::from)?;
        let rest = round
            .rest
            .split_off(batch.changes.len().min(round.rest.len()));
        let hashes: Vec<ChangeHash> = batch.changes.iter().map(|c| c.hash).collect();
        let heads = heads_of(&batch.changes);
        let more = !rest.is_empty();
        // Other devices' changes travel with the relay's tags on them: the
        // relay takes them only if it holds them already or its tag is good.
        let attested = storage
            .attestations(round.journal, &batch.changes)
            .map_err(SessionError::from)?;
        let frame = batch_frame(
            round.journal,
            (&hashes, batch.bundle, batch.listed.as_deref()),
            (more, before_heads),
            &attested,
        );
        let bytes = frame.encode().map_err(SessionError::Encode)?;
        round.in_flight.push_back(InFlight {
            hashes,
            heads,
            before_heads,
        });
        round.rest = rest;
        self.out.push_back(bytes);
        self.deadline = Some(now + SESSION_REPLY_TIMEOUT);
        Ok(())
    }

    fn on_ack(
        &mut self,
        now: Instant,
        journal: Uuid,
        relay_heads: &[ChangeHash],
        (count, digest): (u32, BatchDigest),
        storage: &mut impl ClientStorage,
    ) -> Result<(), SessionError> {
        let round = self.round_mut(journal)?;
        let Some(InFlight { hashes, heads, .. }) = round.in_flight.pop_front() else {
            return Err(ProtocolError::OutOfTurn("an acknowledgement nobody asked for").into());
        };
        if count as usize != hashes.len() || digest != batch_digest(&hashes) {
            return Err(ProtocolError::OutOfTurn(
                "the acknowledgement does not match the batch sent",
            )
            .into());
        }
        round.relay_heads = relay_heads.to_vec();
        let epoch = round.epoch;
        let uploading = !round.in_flight.is_empty() || !round.rest.is_empty();
        // The batch's heads cover the whole batch; the relay's heads (those
        // this device holds) cover what it held besides.
        let mut covered = heads;
        covered.extend_from_slice(relay_heads);
        storage
            .mark_acknowledged(journal, &covered)
            .map_err(SessionError::from)?;
        self.acknowledged_here.insert((journal, epoch));
        self.events.push_back(ClientEvent::Uploaded {
            journal,
            changes: hashes.len(),
        });
        if !uploading {
            return self.maybe_finish(now, storage);
        }
        // An Ack is progress: the next one has its own time.
        self.deadline = Some(now + SESSION_REPLY_TIMEOUT);
        self.fill_pipeline(now, storage)
    }

    fn on_changes(
        &mut self,
        now: Instant,
        journal: Uuid,
        more: bool,
        (changes, attested): (Received, Vec<(ChangeHash, super::AttestationTag)>),
        storage: &mut impl ClientStorage,
    ) -> Result<(), SessionError> {
        let round = self.round_mut(journal)?;
        if round.downloaded {
            return Err(ProtocolError::OutOfTurn("changes after the download ended").into());
        }
        round.downloaded = !more;
        let n = changes.len();
        if n > 0 {
            advance_tips(&mut round.downloaded_tips, changes.changes());
            storage
                .apply_downloaded(journal, changes, &attested)
                .map_err(SessionError::from)?;
            self.events.push_back(ClientEvent::Downloaded {
                journal,
                changes: n,
            });
        }
        self.deadline = Some(now + SESSION_REPLY_TIMEOUT);
        self.maybe_finish(now, storage)
    }

    /// Ends the active round once everything in it is done, and starts the next.
    fn maybe_finish(
        &mut self,
        now: Instant,
        storage: &mut impl ClientStorage,
    ) -> Result<(), SessionError> {
        if !self.active.as_ref().is_some_and(Round::is_done) {
            return Ok(());
        }
        self.finish_round(storage)?;
        self.start_next(now, storage);
        if !self.is_busy() {
            self.events.push_back(ClientEvent::Idle);
        }
        Ok(())
    }

    /// Ends the active round (done: heard, all acknowledged, downloaded).
    ///
    /// A round *ends in sync* when the relay holds everything this device had
    /// when it opened the round, by the relay's own word in this round: the
    /// heads it last stated (in `Heads`, or the last `Ack`) cover this
    /// device's heads of `Open`. Then this device also holds everything the
    /// relay held then (the download, made after that statement, is in).
    /// Such a round is a success whatever started it and whether or not it
    /// moved anything: a round after a `Notify` whose changes an earlier
    /// download already brought moves nothing and is as good as any. (Until
    /// this was so, fifty devices of a centre syncing at once failed with
    /// "no progress": each one's extra rounds after its colleagues'
    /// notifications moved nothing and were counted as failures.)
    ///
    /// What must not repeat is a round that does not end in sync, which an
    /// honest relay never lets happen (it starts the download only once it
    /// holds every head of `Open`), or one in which the relay turned out to
    /// have lost what it acknowledged earlier in this session: a relay that
    /// keeps answering without ever holding this device's changes. Such a
    /// round is retried (a round not in sync is queued again, so a one-sync
    /// session never reports success without it); more than
    /// `MAX_ROUNDS_WITHOUT_PROGRESS` of them in a row end the session.
    ///
    /// Nothing else repeats by itself: a session opens a round only at
    /// `Welcome` (each journal once), when the shell asks (`request_sync`:
    /// a local change, a timer, an adopted epoch), once more after a round
    /// that did not end in sync, or after `Notify` (at most one round queued
    /// per journal, see [`Self::on_notify`]). So every round is bounded by
    /// `SESSION_REPLY_TIMEOUT` per reply, and their number by what other
    /// devices store and this device asks for.
    fn finish_round(&mut self, storage: &mut impl ClientStorage) -> Result<(), SessionError> {
        let round = self
            .active
            .take()
            .expect("called with a round that is done");
        self.deadline = None;
        let journal = round.journal;
        let in_sync = self.relay_holds_all_we_had(&round, storage)?;
        let mut relay_holds = round.relay_heads.clone();
        relay_holds.extend(round.downloaded_tips.iter().copied());
        relay_holds.sort_unstable();
        relay_holds.dedup();
        if in_sync && storage.acked_heads(journal).map_err(SessionError::from)? != relay_holds {
            // Everything up to the relay's heads, and all this round
            // downloaded, is now here and there: the next round's early
            // batch starts from them, and sends nothing this device downloaded.
            storage
                .mark_acknowledged(journal, &relay_holds)
                .map_err(SessionError::from)?;
            self.acknowledged_here.insert((journal, round.epoch));
        }
        let progressed = in_sync && !round.lost_acknowledged;
        let failed_rounds = self.rounds_without_progress.entry(journal).or_insert(0);
        *failed_rounds = if progressed { 0 } else { *failed_rounds + 1 };
        if *failed_rounds > MAX_ROUNDS_WITHOUT_PROGRESS {
            return Err(SessionError::NoProgress);
        }
        if in_sync {
            self.events.push_back(ClientEvent::Synced { journal });
        } else {
            self.enqueue(journal);
        }
        Ok(())
    }

    /// True when the heads the relay last stated in `round` cover every head
    /// this device named in its `Open` (always, for a journal this device
    /// only reads: it has nothing the relay must hold).
    fn relay_holds_all_we_had(
        &self,
        round: &Round,
        storage: &mut impl ClientStorage,
    ) -> Result<bool, SessionError> {
        if !self.may_write(round.journal) {
            return Ok(true);
        }
        let mut relay_holds = round.relay_heads.clone();
        relay_holds.extend(crate::journal::genesis_heads());
        // Heads this device does not hold are ignored (so cover nothing):
        // after an honest relay's download there are none.
        let lacking: HashSet<ChangeHash> = storage
            .missing(round.journal, &relay_holds, usize::MAX)
            .map_err(SessionError::from)?
            .into_iter()
            .collect();
        Ok(!round.start_heads.iter().any(|h| lacking.contains(h)))
    }

    /// Queues a round of `journal` unless one is queued already: however
    /// often it is asked for while a round of it runs or waits, one more
    /// round follows, and it covers everything asked until it opens.
    fn enqueue(&mut self, journal: Uuid) {
        if !self.queue.contains(&journal) {
            self.queue.push_back(journal);
        }
    }

    /// Starts what comes next: an erasure the office asked for first, then
    /// the next queued round.
    fn start_next(&mut self, now: Instant, storage: &mut impl ClientStorage) {
        if self.state != State::Ready || self.is_busy() {
            return;
        }
        match self.ask_next_erasure(now, storage) {
            Ok(true) => return,
            Ok(false) => {}
            Err(e) => return self.fail(e),
        }
        let Some(journal) = self.queue.pop_front() else {
            return;
        };
        if let Err(e) = self.open(now, journal, storage) {
            self.fail(e);
        }
    }

    /// Sends `Erase` for the oldest request not asked yet in this session;
    /// true when one was sent.
    fn ask_next_erasure(
        &mut self,
        now: Instant,
        storage: &mut impl ClientStorage,
    ) -> Result<bool, SessionError> {
        let requested = storage.erasures_requested().map_err(SessionError::from)?;
        let Some(activity) = requested
            .into_iter()
            .find(|a| !self.erasures_asked.contains(a))
        else {
            return Ok(false);
        };
        self.erasures_asked.insert(activity);
        self.send(&Frame::Erase { activity });
        self.erasing = Some(activity);
        self.deadline = Some(now + SESSION_REPLY_TIMEOUT);
        Ok(true)
    }

    /// The relay's answer to `Erase`: recorded durably, then, when the
    /// journal was rewritten to an epoch this device does not hold, the shell
    /// is told to adopt it.
    fn on_erased(
        &mut self,
        now: Instant,
        activity: Uuid,
        rewritten: Option<(Uuid, u32)>,
        storage: &mut impl ClientStorage,
    ) -> Result<(), SessionError> {
        if self.erasing != Some(activity) {
            return Err(ProtocolError::OutOfTurn("an erasure answer nobody asked for").into());
        }
        self.erasing = None;
        self.deadline = None;
        storage
            .erasure_answered(activity, rewritten)
            .map_err(SessionError::from)?;
        self.events.push_back(ClientEvent::Erased {
            activity,
            rewritten,
        });
        if let Some((journal, epoch)) = rewritten
            && epoch > storage.epoch(journal).map_err(SessionError::from)?
        {
            // The shell adopts the new journal, then asks for its round
            // (`request_sync`), which starts what comes next; a round opened
            // before would name the old epoch.
            self.events
                .push_back(ClientEvent::NewEpoch { journal, epoch });
            return Ok(());
        }
        self.start_next(now, storage);
        if !self.is_busy() {
            self.events.push_back(ClientEvent::Idle);
        }
        Ok(())
    }

    /// Sends `Open`, then, when the relay acknowledged something before, the
    /// first batch of what came since without waiting for its `Heads`: one
    /// round trip for the common round instead of two.
    fn open(
        &mut self,
        now: Instant,
        journal: Uuid,
        storage: &mut impl ClientStorage,
    ) -> Result<(), SessionError> {
        let heads = storage.heads(journal).map_err(SessionError::from)?;
        let mut acked = storage.acked_heads(journal).map_err(SessionError::from)?;
        if acked.len() > MAX_HEADS {
            // Stores once recorded every hash of an acknowledged batch, more
            // than an `Open` carries. Naming none is always safe: the relay
            // answers with its heads, this device sends what it lacks (what
            // it holds already is not stored twice), and the round's end
            // records the relay's heads instead.
            acked.clear();
        }
        let early = if acked.is_empty() {
            VecDeque::new()
        } else {
            let mut base = acked.clone();
            base.extend(crate::journal::genesis_heads());
            self.plan_since(journal, &base, storage)?
        };
        let epoch = storage.epoch(journal).map_err(SessionError::from)?;
        self.send(&Frame::Open {
            journal,
            epoch,
            heads: heads.clone(),
            acked: acked.clone(),
        });
        self.active = Some(Round {
            journal,
            epoch,
            start_heads: heads,
            acked,
            relay_heads: Vec::new(),
            lost_acknowledged: false,
            heard: false,
            in_flight: VecDeque::new(),
            rest: early,
            downloaded: false,
            downloaded_tips: Vec::new(),
        });
        self.deadline = Some(now + SESSION_REPLY_TIMEOUT);
        match self.active.as_ref().is_some_and(|r| !r.rest.is_empty()) {
            true => self.send_batch(now, true, storage),
            false => Ok(()),
        }
    }

    /// The active round, which must be `journal`'s.
    fn round_mut(&mut self, journal: Uuid) -> Result<&mut Round, SessionError> {
        match &mut self.active {
            Some(round) if round.journal == journal => Ok(round),
            _ => Err(not_running()),
        }
    }

    fn send(&mut self, frame: &Frame) {
        match frame.encode() {
            Ok(bytes) => self.out.push_back(bytes),
            Err(e) => self.close(SessionError::Encode(e)),
        }
    }

    fn fail(&mut self, e: SessionError) {
        let code = match &e {
            SessionError::Refused { .. } | SessionError::Closed => None,
            SessionError::Storage(_) => Some(ErrorCode::Internal),
            SessionError::NoProgress => Some(ErrorCode::LimitReached),
            SessionError::Version(_) => Some(ErrorCode::UnsupportedVersion),
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
        self.erasing = None;
        self.queue.clear();
        self.deadline = None;
        self.events.push_back(ClientEvent::Closed { reason });
    }
}

impl<S: ClientStorage> HandlesFrames<S> for ClientSession {
    fn handle_one(
        &mut self,
        now: Instant,
        frame: Frame,
        unpacked: Option<Unpacked>,
        storage: &mut S,
    ) -> bool {
        if let Err(e) = self.handle_frame(now, frame, unpacked, storage) {
            self.fail(e);
        }
        self.state != State::Closed
    }

    fn fail_decode(&mut self, e: DecodeError) {
        let (frame, reason) = decode_refusal(e);
        self.out.extend(frame);
        self.close(reason);
    }
}

/// Heads of what was downloaded so far, once `batch` (whose dependencies are
/// held) is too: the batch's changes join, what they depend on leaves.
fn advance_tips(tips: &mut Vec<ChangeHash>, batch: &[Change]) {
    let deps: HashSet<ChangeHash> = batch
        .iter()
        .flat_map(|c| c.deps().iter().copied())
        .collect();
    tips.extend(batch.iter().map(Change::hash));
    tips.retain(|h| !deps.contains(h));
    tips.sort_unstable();
    tips.dedup();
}

fn not_running() -> SessionError {
    ProtocolError::OutOfTurn("a reply for a round that is not running").into()
}

/// The changes of `batch` that no other change of it depends on: every
/// change of the batch is one of them or an ancestor of one.
fn heads_of(batch: &[BatchChange]) -> Vec<ChangeHash> {
    let depended_on: HashSet<&ChangeHash> = batch.iter().flat_map(|c| &c.deps).collect();
    batch
        .iter()
        .map(|c| c.hash)
        .filter(|h| !depended_on.contains(h))
        .collect()
}

pub(super) fn frame_name(frame: &Frame) -> &'static str {
    match frame {
        Frame::Hello { .. } => "Hello",
        Frame::Welcome { .. } => "Welcome",
        Frame::Open { .. } => "Open",
        Frame::Heads { .. } => "Heads",
        Frame::Changes { .. } => "Changes",
        Frame::Ack { .. } => "Ack",
        Frame::Notify { .. } => "Notify",
        Frame::Error { .. } => "Error",
        Frame::Enrol { .. } => "Enrol",
        Frame::Enrolled { .. } => "Enrolled",
        Frame::Health { .. } => "Health",
        Frame::Erase { .. } => "Erase",
        Frame::Erased { .. } => "Erased",
        Frame::FileOffer { .. } => "FileOffer",
        Frame::FileHeld { .. } => "FileHeld",
        Frame::FileChunk { .. } => "FileChunk",
        Frame::FileWant { .. } => "FileWant",
        Frame::FileRefused { .. } => "FileRefused",
    }
}
