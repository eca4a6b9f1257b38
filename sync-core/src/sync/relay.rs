//! The relay's side of a session with one authenticated device.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::time::Instant;

use automerge::{ActorId, Change, ChangeHash};
use uuid::Uuid;

use super::ahead::{HandlesFrames, Unpacked, decode_refusal, handle_frames, unpacked_now_or_ahead};
use super::attest::{AttestationTag, Attestor};
use super::client::frame_name;
use super::wire::{DecodeError, FrameBuffer};
use super::{
    Access, Batch, BatchAttestation, BatchChange, BatchDigest, BatchEncoding, DeviceHealth,
    ErrorCode, Frame, JournalGrant, NotAllowed, PROTOCOL_VERSION, ProtocolError, RelayStorage,
    Role, SessionError, VersionMismatch, attested_hashes, batch_frame, error_frame,
};
use crate::limits::{MAX_DOWNLOAD_PLAN_CHANGES, MAX_HEALTH_DEVICES, SESSION_HANDSHAKE_TIMEOUT};

/// What happened in a relay session.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RelayEvent {
    /// The device said hello and was granted these journals; it has this
    /// many activities not yet sent, if it said.
    Welcomed {
        journals: Vec<Uuid>,
        unsent: Option<u32>,
    },
    /// The relay now durably holds every change the device had in `journal`
    /// when it opened this round: the device's data is safe here.
    HoldsAll { journal: Uuid },
    /// Changes to `journal` were stored durably: other sessions should be notified.
    Stored { journal: Uuid, changes: usize },
    /// The device (the office) had `activity` erased: `journal` was
    /// rewritten under `epoch`; every other session following it must hear.
    Erased {
        activity: Uuid,
        journal: Uuid,
        epoch: u32,
    },
    /// This many changes were sent to the device.
    Sent { journal: Uuid, changes: usize },
    /// The device sent a change written by another device (`author`, the
    /// change's actor) that this relay never stored: the whole batch was
    /// refused and nothing of it stored. Someone tried to write as another.
    ForgedAuthor { journal: Uuid, author: ActorId },
    /// The device, enrolled already, began with `Enrol`: the answer to its
    /// enrolment was lost, and it asks again with the code it used. The
    /// shell tells it what that enrolment granted if this device redeemed
    /// the code, and refuses otherwise ([`RelaySession::answer_enrolment`]).
    EnrolAgain { secret: [u8; 32] },
    /// The session ended; the shell should close the stream.
    Closed { reason: SessionError },
}

#[derive(Debug, PartialEq, Eq)]
enum State {
    AwaitHello,
    /// `Enrol` came first ([`RelayEvent::EnrolAgain`]): waiting for the
    /// shell's answer; any other frame is refused.
    Enrolling,
    Ready,
    Closed,
}

/// The device a relay session serves, as its certificate proved it, and the
/// relay's attestor (see [`super::attest`]).
#[derive(Clone, Debug)]
pub struct Peer {
    /// The device's id, which is also the Automerge actor of every change it
    /// writes: the only actor it may store changes as.
    pub device: Uuid,
    pub attestor: Attestor,
}

impl Peer {
    fn actor(&self) -> ActorId {
        ActorId::from(self.device.as_bytes())
    }
}

/// One device's session at the relay. `allowed` holds every journal the
/// authenticated device may access; the relay never lets the session touch
/// anything else, and stores only changes `peer` wrote (or that it stored
/// before).
#[derive(Debug)]
pub struct RelaySession {
    peer: Peer,
    actor: ActorId,
    state: State,
    allowed: BTreeMap<Uuid, JournalGrant>,
    granted: BTreeMap<Uuid, JournalGrant>,
    frames: FrameBuffer,
    out: VecDeque<Vec<u8>>,
    events: VecDeque<RelayEvent>,
    deadline: Option<Instant>,
    /// The download under way, built batch by batch as the shell asks for
    /// the next ([`Self::handle_send_ready`]), so the shell's writes, bounded
    /// by QUIC flow control, pace it and the session never holds more than
    /// one batch and a bounded plan of what comes next.
    download: Option<Download>,
    /// The round each opened journal is in (at most one per granted journal).
    rounds: BTreeMap<Uuid, OpenRound>,
    /// The device may erase records (the office's, see [`Self::permit_erasure`]).
    may_erase: bool,
    /// The last upload batch said more follow (see [`Self::upload_continues`]).
    upload_more: bool,
}

/// A download in progress: what the client holds so far, as heads, and the
/// next changes to send. Sending a prefix of a causal order keeps what the
/// client holds closed under dependencies, so its heads describe it exactly.
#[derive(Debug)]
struct Download {
    journal: Uuid,
    epoch: u32,
    /// Heads of what the client holds once it has every batch sent so far.
    known: Vec<ChangeHash>,
    /// The next changes to send, in causal order: at most
    /// [`MAX_DOWNLOAD_PLAN_CHANGES`], refilled from `known` when empty.
    plan: VecDeque<ChangeHash>,
    /// The last refill found fewer than the limit: `plan` holds all that is left.
    planned_all: bool,
}

/// What the relay keeps of a journal's round between its frames.
#[derive(Debug)]
struct OpenRound {
    /// The client's heads in `Open`: once the relay holds them all, it sends
    /// the client what it lacks.
    client_heads: Vec<ChangeHash>,
    /// The relay holds the heads the client says it acknowledged; without
    /// them, a batch sent before `Heads` is dropped (the client resends).
    has_acked: bool,
    /// The download for this round was queued.
    downloading: bool,
    /// The client is on another epoch of the journal: nothing of this round
    /// is stored or sent (the client adopts the relay's epoch first).
    other_epoch: bool,
    /// The relay's epoch of the journal when the round opened: an erasure
    /// by another session meanwhile ends the round (see `on_changes`).
    epoch: u32,
}

impl RelaySession {
    pub fn new(now: Instant, allowed: Vec<JournalGrant>, peer: Peer) -> RelaySession {
        RelaySession {
            actor: peer.actor(),
            peer,
            state: State::AwaitHello,
            allowed: allowed.into_iter().map(|g| (g.journal, g)).collect(),
            granted: BTreeMap::new(),
            frames: FrameBuffer::default(),
            out: VecDeque::new(),
            events: VecDeque::new(),
            deadline: Some(now + SESSION_HANDSHAKE_TIMEOUT),
            download: None,
            rounds: BTreeMap::new(),
            may_erase: false,
            upload_more: false,
        }
    }

    /// Lets this session erase records (`Erase`): only the office's devices
    /// may, as the registry says; the shell decides.
    pub fn permit_erasure(&mut self) {
        self.may_erase = true;
    }

    pub fn is_closed(&self) -> bool {
        self.state == State::Closed
    }

    /// True when this session may read `journal` (and so wants to hear of changes).
    pub fn follows(&self, journal: Uuid) -> bool {
        self.state == State::Ready && self.granted.contains_key(&journal)
    }

    /// Another session stored changes to `journal`: tell this device.
    pub fn notify_changed(&mut self, journal: Uuid) {
        if self.follows(journal) {
            self.send(&Frame::Notify { journal });
        }
    }

    /// Ends the session from the relay's side (revocation, shutdown).
    /// Sends the sync health of every device (to an office device, once
    /// welcomed). Ignored before `Welcome` and after the session closed.
    /// Past [`MAX_HEALTH_DEVICES`] the revoked ones are left out first.
    pub fn send_health(&mut self, mut devices: Vec<DeviceHealth>) {
        devices.sort_by_key(|d| d.revoked);
        devices.truncate(MAX_HEALTH_DEVICES);
        if self.state == State::Ready {
            self.send(&Frame::Health { devices });
        }
    }

    /// Answers an `Enrol` sent again ([`RelayEvent::EnrolAgain`]) with what
    /// this device's enrolment with that code granted (its journal, centre
    /// and role), or refuses it when `granted` is `None` (the device did not
    /// redeem that code). Either way the session ends. Ignored otherwise.
    pub fn answer_enrolment(&mut self, granted: Option<(Uuid, String, Role)>) {
        if self.state != State::Enrolling {
            return;
        }
        let Some((journal, centre, role)) = granted else {
            let e = NotAllowed::EnrolAgain;
            return self.refuse(ErrorCode::NotAllowed, &e.to_string());
        };
        self.send(&Frame::Enrolled {
            journal,
            centre,
            role,
        });
        self.close(SessionError::Closed);
    }

    pub fn refuse(&mut self, code: ErrorCode, message: &str) {
        if self.state != State::Closed {
            self.out.extend(error_frame(code, message));
            self.close(SessionError::Refused {
                code,
                message: message.to_owned(),
            });
        }
    }

    pub fn handle_bytes(&mut self, now: Instant, bytes: &[u8], storage: &mut impl RelayStorage) {
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

    pub fn handle_timeout(&mut self, now: Instant) {
        if self.deadline.is_some_and(|d| now >= d) && self.state != State::Closed {
            self.close(SessionError::TimedOut);
        }
    }

    pub fn handle_stream_closed(&mut self) {
        if self.state != State::Closed {
            self.close(SessionError::Closed);
        }
    }

    pub fn poll_transmit(&mut self) -> Option<Vec<u8>> {
        self.out.pop_front()
    }

    /// True when everything queued was taken and a download batch waits to
    /// be built: the shell calls [`Self::handle_send_ready`] once the stream
    /// took what was written.
    pub fn wants_to_send(&self) -> bool {
        self.out.is_empty() && self.state == State::Ready && self.download.is_some()
    }

    /// The stream can take more: builds the next download batch (one frame).
    pub fn handle_send_ready(&mut self, _now: Instant, storage: &mut impl RelayStorage) {
        if !self.wants_to_send() {
            return;
        }
        if let Err((code, e)) = self.next_download_batch(storage) {
            self.out.extend(error_frame(code, &e.to_string()));
            self.close(e);
        }
    }

    /// [`Self::poll_transmit`], building the next download batch first when
    /// nothing else waits: for drivers that pace nothing themselves (the
    /// deterministic tests and simulations).
    pub fn poll_transmit_building(
        &mut self,
        now: Instant,
        storage: &mut impl RelayStorage,
    ) -> Option<Vec<u8>> {
        self.handle_send_ready(now, storage);
        self.poll_transmit()
    }

    /// Bytes of the frame being received, once its length arrived and while
    /// it is incomplete: the shell may hold back reading a large one until
    /// it can afford the memory.
    pub fn incoming_frame_bytes(&self) -> Option<usize> {
        self.frames.incomplete_frame_bytes()
    }

    /// The last upload batch received said more follow, and the session is
    /// open: the shell may keep reading ahead for them.
    pub fn upload_continues(&self) -> bool {
        self.upload_more && !self.is_closed()
    }

    pub fn poll_event(&mut self) -> Option<RelayEvent> {
        self.events.pop_front()
    }

    pub fn poll_timeout(&self) -> Option<Instant> {
        self.deadline
    }

    fn handle_frame(
        &mut self,
        _now: Instant,
        frame: Frame,
        unpacked: Option<Unpacked>,
        storage: &mut impl RelayStorage,
    ) -> Result<(), (ErrorCode, SessionError)> {
        match (frame, &self.state) {
            (
                Frame::Hello {
                    version,
                    journals,
                    unsent,
                    ..
                },
                State::AwaitHello,
            ) => self.on_hello(version, journals, unsent),
            (Frame::Enrol { secret, device, .. }, State::AwaitHello) => {
                if device != self.peer.device {
                    return Err((ErrorCode::NotAllowed, NotAllowed::EnrolAgain.into()));
                }
                self.state = State::Enrolling;
                self.events.push_back(RelayEvent::EnrolAgain { secret });
                Ok(())
            }
            (Frame::Error { code, message }, _) => {
                self.close(SessionError::Refused { code, message });
                Ok(())
            }
            (
                Frame::Open {
                    journal,
                    epoch,
                    heads,
                    acked,
                },
                State::Ready,
            ) => self.on_open(journal, epoch, heads, &acked, storage),
            (
                Frame::Changes {
                    journal,
                    more,
                    sent_before_heads,
                    count,
                    digest,
                    encoding,
                    bundle,
                    attested,
                },
                State::Ready,
            ) => self.on_changes(
                journal,
                (more, sent_before_heads),
                (count, digest, encoding, bundle, attested),
                unpacked,
                storage,
            ),
            (Frame::Erase { activity }, State::Ready) => self.on_erase(activity, storage),
            (other, _) => Err((
                ErrorCode::Malformed,
                ProtocolError::UnexpectedFrame(frame_name(&other)).into(),
            )),
        }
    }

    fn on_hello(
        &mut self,
        version: u16,
        wanted: Vec<Uuid>,
        unsent: Option<u32>,
    ) -> Result<(), (ErrorCode, SessionError)> {
        if version != PROTOCOL_VERSION {
            // Told in the relay's own words, its version first, so that a
            // device of any version can tell which program is the older.
            let words = VersionMismatch::relay_words(version);
            self.out
                .extend(error_frame(ErrorCode::UnsupportedVersion, &words));
            self.close(ProtocolError::DeviceVersion(version).into());
            return Ok(());
        }
        for journal in &wanted {
            if !self.allowed.contains_key(journal) {
                return Err((ErrorCode::NotAllowed, NotAllowed::Sync(*journal).into()));
            }
        }
        self.granted = if wanted.is_empty() {
            self.allowed.clone()
        } else {
            wanted
                .iter()
                .map(|j| (*j, self.allowed[j].clone()))
                .collect()
        };
        let journals: Vec<JournalGrant> = self.granted.values().cloned().collect();
        self.send(&Frame::Welcome {
            version: PROTOCOL_VERSION,
            journals,
        });
        self.state = State::Ready;
        self.deadline = None;
        self.events.push_back(RelayEvent::Welcomed {
            journals: self.granted.keys().copied().collect(),
            unsent,
        });
        Ok(())
    }

    fn on_open(
        &mut self,
        journal: Uuid,
        client_epoch: u32,
        client_heads: Vec<ChangeHash>,
        acked: &[ChangeHash],
        storage: &mut impl RelayStorage,
    ) -> Result<(), (ErrorCode, SessionError)> {
        self.grant(journal, Access::Read)?;
        if self.download.is_some() {
            let message = "a new round was opened before the last download ended";
            return Err((
                ErrorCode::Malformed,
                ProtocolError::OutOfTurn(message).into(),
            ));
        }
        let (epoch, heads) = storage.state(journal).map_err(internal)?;
        let other_epoch = epoch != client_epoch;
        let has_acked = !other_epoch && storage.contains_all(journal, acked).map_err(internal)?;
        self.send(&Frame::Heads {
            journal,
            epoch,
            heads,
            has_acked,
        });
        self.rounds.insert(
            journal,
            OpenRound {
                client_heads,
                has_acked,
                downloading: false,
                other_epoch,
                epoch,
            },
        );
        self.download_if_ready(journal, storage)
    }

    fn on_changes(
        &mut self,
        journal: Uuid,
        (more, sent_before_heads): (bool, bool),
        (count, digest, encoding, bundle, attested): (
            u32,
            BatchDigest,
            BatchEncoding,
            Vec<u8>,
            Vec<BatchAttestation>,
        ),
        unpacked: Option<Unpacked>,
        storage: &mut impl RelayStorage,
    ) -> Result<(), (ErrorCode, SessionError)> {
        self.upload_more = more;
        self.grant(journal, Access::ReadWrite)?;
        let Some(round) = self.rounds.get(&journal) else {
            let message = "changes for a journal that was not opened";
            return Err((
                ErrorCode::Malformed,
                ProtocolError::OutOfTurn(message).into(),
            ));
        };
        if round.other_epoch {
            // Changes of another epoch's journal are never stored: they could
            // hold what an erasure removed.
            return Ok(());
        }
        let epoch = round.epoch;
        if storage.state(journal).map_err(internal)?.0 != epoch {
            return self.rewritten_meanwhile(journal, storage);
        }
        if sent_before_heads && !round.has_acked {
            // Built on heads this relay does not hold: the client learns that
            // from `Heads` and sends again from the relay's heads.
            return Ok(());
        }
        let changes = unpacked_now_or_ahead(unpacked, (count, &digest, encoding, &bundle))
            .map_err(|e| (ErrorCode::Malformed, e))?;
        let attested: HashMap<ChangeHash, AttestationTag> =
            attested_hashes(changes.changes(), &attested)
                .into_iter()
                .collect();
        self.check_authors(journal, epoch, changes.changes(), &attested, storage)?;
        let n = changes.len();
        let stored = storage
            .apply_durably(journal, epoch, changes)
            .map_err(internal)?;
        let Some(heads) = stored else {
            return self.rewritten_meanwhile(journal, storage);
        };
        self.send(&Frame::Ack {
            journal,
            heads,
            count,
            digest,
        });
        self.events.push_back(RelayEvent::Stored {
            journal,
            changes: n,
        });
        if more {
            return Ok(());
        }
        self.download_if_ready(journal, storage)?;
        match self.rounds.get(&journal) {
            Some(round) if round.downloading => Ok(()),
            _ => {
                let message = "the upload ended without the changes its Open named";
                Err((
                    ErrorCode::Malformed,
                    ProtocolError::OutOfTurn(message).into(),
                ))
            }
        }
    }

    /// Refuses the batch unless every change in it was written by this
    /// session's device, or is one this relay stored before: held now, or
    /// carrying this relay's tag for this journal and epoch (a change sent
    /// back to a relay restored from a backup). Nobody can write as a
    /// colleague, the office, or a revoked device.
    fn check_authors(
        &mut self,
        journal: Uuid,
        epoch: u32,
        changes: &[Change],
        attested: &HashMap<ChangeHash, AttestationTag>,
        storage: &mut impl RelayStorage,
    ) -> Result<(), (ErrorCode, SessionError)> {
        for change in changes {
            if change.actor_id() == &self.actor {
                continue;
            }
            let hash = change.hash();
            let vouched = attested
                .get(&hash)
                .is_some_and(|tag| self.peer.attestor.verify(journal, epoch, &hash, tag));
            if vouched || storage.contains_all(journal, &[hash]).map_err(internal)? {
                continue;
            }
            let author = change.actor_id().clone();
            self.events.push_back(RelayEvent::ForgedAuthor {
                journal,
                author: author.clone(),
            });
            return Err((
                ErrorCode::NotAllowed,
                NotAllowed::ForeignChange(author).into(),
            ));
        }
        Ok(())
    }

    /// The journal was rewritten (an erasure) since this round opened: the
    /// round's changes belong to the old journal and are not stored. The
    /// relay says so with a `Heads` of the new epoch, which ends the round at
    /// the client; the client adopts the new journal and opens again.
    fn rewritten_meanwhile(
        &mut self,
        journal: Uuid,
        storage: &mut impl RelayStorage,
    ) -> Result<(), (ErrorCode, SessionError)> {
        if let Some(round) = self.rounds.get_mut(&journal) {
            round.other_epoch = true;
        }
        if self.download.as_ref().is_some_and(|d| d.journal == journal) {
            self.download = None;
        }
        let (epoch, heads) = storage.state(journal).map_err(internal)?;
        self.send(&Frame::Heads {
            journal,
            epoch,
            heads,
            has_acked: false,
        });
        Ok(())
    }

    /// `Erase` from the office: the journal holding the activity is rewritten
    /// without it, the office hears the outcome, and (through the event)
    /// every other session following the journal is notified, so its device
    /// learns the new epoch at its next round.
    fn on_erase(
        &mut self,
        activity: Uuid,
        storage: &mut impl RelayStorage,
    ) -> Result<(), (ErrorCode, SessionError)> {
        if !self.may_erase {
            return Err((ErrorCode::NotAllowed, NotAllowed::Erase.into()));
        }
        let rewritten = storage.erase(activity).map_err(internal)?;
        self.send(&Frame::Erased {
            activity,
            rewritten,
        });
        if let Some((journal, epoch)) = rewritten {
            self.events.push_back(RelayEvent::Erased {
                activity,
                journal,
                epoch,
            });
        }
        Ok(())
    }

    /// Once this relay holds every head the client named in `Open`, queues the
    /// changes the client lacks (an empty last batch when it lacks nothing),
    /// once per round.
    fn download_if_ready(
        &mut self,
        journal: Uuid,
        storage: &mut impl RelayStorage,
    ) -> Result<(), (ErrorCode, SessionError)> {
        let Some(round) = self.rounds.get_mut(&journal) else {
            return Ok(());
        };
        // A device that may only read never uploads: it gets what it lacks at once.
        let read_only = self
            .granted
            .get(&journal)
            .is_some_and(|g| g.access == Access::Read);
        if round.downloading
            || round.other_epoch
            || !(read_only
                || storage
                    .contains_all(journal, &round.client_heads)
                    .map_err(internal)?)
        {
            return Ok(());
        }
        round.downloading = true;
        if !read_only {
            self.events.push_back(RelayEvent::HoldsAll { journal });
        }
        self.download = Some(Download {
            journal,
            epoch: round.epoch,
            known: round.client_heads.clone(),
            plan: VecDeque::new(),
            planned_all: false,
        });
        Ok(())
    }

    /// Builds the next batch of the download: the first changes of the plan
    /// that fit one batch (refilling the plan first when it ran out), and
    /// whether more follow. The journal rewritten meanwhile (an erasure) ends
    /// the download with a `Heads` of the new epoch, as an upload would.
    fn next_download_batch(
        &mut self,
        storage: &mut impl RelayStorage,
    ) -> Result<(), (ErrorCode, SessionError)> {
        let Some(mut download) = self.download.take() else {
            return Ok(());
        };
        let journal = download.journal;
        let Some((batch, more)) = next_batch(&mut download, storage)? else {
            return self.rewritten_meanwhile(journal, storage);
        };
        let attested = self.attest(journal, download.epoch, &batch.changes);
        let hashes: Vec<ChangeHash> = batch.changes.iter().map(|c| c.hash).collect();
        let frame = batch_frame(
            journal,
            (&hashes, batch.bundle, batch.listed.as_deref()),
            (more, false),
            &attested,
        );
        self.send(&frame);
        if more {
            self.download = Some(download);
        }
        if !hashes.is_empty() {
            self.events.push_back(RelayEvent::Sent {
                journal,
                changes: hashes.len(),
            });
        }
        Ok(())
    }

    /// This relay's tags on the changes of `batch` written by devices other
    /// than the receiver: what the receiver needs to send them back to this
    /// relay should it ever lose them (restored from a backup).
    fn attest(
        &self,
        journal: Uuid,
        epoch: u32,
        batch: &[BatchChange],
    ) -> Vec<(ChangeHash, AttestationTag)> {
        batch
            .iter()
            .filter(|c| c.author != self.actor)
            .map(|c| (c.hash, self.peer.attestor.tag(journal, epoch, &c.hash)))
            .collect()
    }

    /// Checks the session was granted `journal` with at least `need` access.
    fn grant(&self, journal: Uuid, need: Access) -> Result<(), (ErrorCode, SessionError)> {
        match self.granted.get(&journal) {
            Some(g) if need == Access::Read || g.access == Access::ReadWrite => Ok(()),
            Some(_) => Err((ErrorCode::NotAllowed, NotAllowed::Write(journal).into())),
            None => Err((ErrorCode::NotAllowed, NotAllowed::Sync(journal).into())),
        }
    }

    fn send(&mut self, frame: &Frame) {
        match frame.encode() {
            Ok(bytes) => self.out.push_back(bytes),
            Err(e) => self.close(SessionError::Encode(e)),
        }
    }

    fn close(&mut self, reason: SessionError) {
        self.state = State::Closed;
        self.deadline = None;
        self.events.push_back(RelayEvent::Closed { reason });
    }
}

impl<S: RelayStorage> HandlesFrames<S> for RelaySession {
    fn handle_one(
        &mut self,
        now: Instant,
        frame: Frame,
        unpacked: Option<Unpacked>,
        storage: &mut S,
    ) -> bool {
        if let Err((code, e)) = self.handle_frame(now, frame, unpacked, storage) {
            self.out.extend(error_frame(code, &e.to_string()));
            self.close(e);
        }
        self.state != State::Closed
    }

    fn fail_decode(&mut self, e: DecodeError) {
        let (frame, reason) = decode_refusal(e);
        self.out.extend(frame);
        self.close(reason);
    }
}

/// How a storage failure ends a relay session, with the code the device
/// is told.
fn internal(e: super::StorageFailure) -> (ErrorCode, SessionError) {
    let code = match &e {
        super::StorageFailure::Refused(_) => ErrorCode::Malformed,
        super::StorageFailure::Unavailable(_) => ErrorCode::Unavailable,
        _ => ErrorCode::Internal,
    };
    (code, e.into())
}

/// The next batch of `download` (empty when nothing is missing) and whether
/// more follow; `None` when the journal is no longer at the download's epoch.
fn next_batch(
    download: &mut Download,
    storage: &mut impl RelayStorage,
) -> Result<Option<(Batch, bool)>, (ErrorCode, SessionError)> {
    if !refill(download, storage)? {
        return Ok(None);
    }
    let plan: Vec<ChangeHash> = download.plan.iter().copied().collect();
    let batch = if plan.is_empty() {
        Batch {
            changes: Vec::new(),
            bundle: Some(Vec::new()),
            listed: None,
        }
    } else {
        match storage
            .batch(download.journal, download.epoch, &plan)
            .map_err(internal)?
        {
            Some(batch) => batch,
            None => return Ok(None),
        }
    };
    download.plan.drain(..batch.changes.len());
    advance(&mut download.known, &batch.changes);
    // Whether this batch is the last: only a refill can tell.
    if download.plan.is_empty()
        && !download.planned_all
        && !batch.changes.is_empty()
        && !refill(download, storage)?
    {
        return Ok(None);
    }
    let more = !download.plan.is_empty() || !download.planned_all;
    Ok(Some((batch, more)))
}

/// Fills an empty plan with the next changes the client lacks, unless the
/// last refill already found all. False when the journal is no longer at the
/// download's epoch.
fn refill(
    download: &mut Download,
    storage: &mut impl RelayStorage,
) -> Result<bool, (ErrorCode, SessionError)> {
    if !download.plan.is_empty() || download.planned_all {
        return Ok(true);
    }
    let next = storage
        .missing(
            download.journal,
            download.epoch,
            &download.known,
            MAX_DOWNLOAD_PLAN_CHANGES,
        )
        .map_err(internal)?;
    let Some(next) = next else {
        return Ok(false);
    };
    download.planned_all = next.len() < MAX_DOWNLOAD_PLAN_CHANGES;
    download.plan = next.into();
    Ok(true)
}

/// The heads of what the client holds once it also has `batch` (whose
/// dependencies it holds): the batch's changes join, what they depend on
/// stops being a head.
fn advance(known: &mut Vec<ChangeHash>, batch: &[BatchChange]) {
    let deps: std::collections::HashSet<ChangeHash> =
        batch.iter().flat_map(|c| c.deps.iter().copied()).collect();
    known.extend(batch.iter().map(|c| c.hash));
    known.retain(|h| !deps.contains(h));
    known.sort_unstable();
    known.dedup();
}
