//! Files on a stream of their own (docs/PROTOCOL.md, "Files";
//! docs/ATTACHMENTS.md): [`FileTransfer`] on the device sends the files
//! attached there and fetches the ones asked for; [`FileService`] on the
//! relay takes and gives them. Plain state machines like the sync session:
//! `handle_*` for input, `poll_*` for output, storage behind a trait.
//!
//! A file goes chunk by chunk, [`MAX_FILE_CHUNKS_IN_FLIGHT`] at most
//! unanswered; the relay answers each chunk only once it is durable, so a
//! transfer cut anywhere resumes from the last chunk answered. Memory stays
//! bounded by a few chunks whatever the file's size: a chunk is read from
//! the store when it is about to be sent.

use std::collections::VecDeque;
use std::time::Instant;

use uuid::Uuid;

use super::error::{ProtocolError, SessionError, StorageFailure};
use super::wire::{Access, ErrorCode, Frame, FrameBuffer, JournalGrant};
use crate::activity::{ActivityId, Attachment, Thumbnail};
use crate::files::{FileHash, chunk_count};
use crate::limits::{MAX_FILE_CHUNKS_IN_FLIGHT, MAX_FILE_REQUESTS_QUEUED, SESSION_REPLY_TIMEOUT};
use crate::store::{FileDescription, FileToSend, ReceiveChunkError, StoredFile};

/// A file's bytes on the device, as [`FileTransfer`] reaches them.
pub trait DeviceFiles {
    /// Chunk `number` of file `hash`, if held.
    fn file_chunk(
        &mut self,
        hash: FileHash,
        number: u64,
    ) -> Result<Option<Vec<u8>>, StorageFailure>;
    /// The relay holds file `hash` of `journal` whole: it no longer waits.
    fn file_sent(&mut self, journal: Uuid, hash: FileHash) -> Result<(), StorageFailure>;
    /// What is held of file `hash`.
    fn held_file(&mut self, hash: FileHash) -> Result<Option<StoredFile>, StorageFailure>;
    /// Stores a chunk fetched from the relay, durably ([`crate::Store::receive_file_chunk`]).
    fn receive_file_chunk(
        &mut self,
        file: FileDescription,
        number: u64,
        chunk: &[u8],
    ) -> Result<StoredFile, ReceiveChunkError>;
}

/// A file to fetch from the relay: what the record that refers to it says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FileWanted {
    pub journal: Uuid,
    pub activity: ActivityId,
    pub file: FileDescription,
}

impl FileWanted {
    /// The file `attachment` names, as `activity` of `journal` refers to it.
    pub fn of(journal: Uuid, activity: ActivityId, attachment: &Attachment) -> FileWanted {
        FileWanted {
            journal,
            activity,
            file: FileDescription {
                hash: attachment.file,
                bytes: attachment.bytes,
            },
        }
    }

    /// The thumbnail `thumbnail` of a file `activity` of `journal` has.
    pub fn thumbnail_of(journal: Uuid, activity: ActivityId, thumbnail: Thumbnail) -> FileWanted {
        FileWanted {
            journal,
            activity,
            file: FileDescription {
                hash: thumbnail.file,
                bytes: thumbnail.bytes,
            },
        }
    }
}

/// What a [`FileTransfer`] tells its shell.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FileEvent {
    /// The relay holds the file whole, its hash checked.
    Sent { journal: Uuid, hash: FileHash },
    /// The relay acknowledged chunks of a file being sent.
    Progress {
        hash: FileHash,
        chunks_held: u64,
        chunks: u64,
    },
    /// The relay will not take or give this file (its words); the others go on.
    Refused {
        hash: FileHash,
        code: ErrorCode,
        message: String,
    },
    /// The file fetched is whole here, its hash checked.
    Fetched { hash: FileHash },
    /// The relay does not hold the file whole yet (its device has not sent
    /// all of it): ask again later.
    NotYetAtRelay { hash: FileHash, chunks_held: u64 },
    /// The stream ended; nothing acknowledged is lost.
    Closed { reason: SessionError },
}

/// A file being sent: offered, then chunk by chunk.
#[derive(Debug)]
struct Upload {
    journal: Uuid,
    file: FileToSend,
    /// Chunks the relay said it holds; `None` until it answered the offer.
    relay_holds: Option<u64>,
    /// The next chunk to send.
    next: u64,
}

/// A file being fetched: asked for, then chunk by chunk.
#[derive(Debug)]
struct Download {
    wanted: FileWanted,
    /// Chunks the relay said it holds; `None` until it answered.
    relay_holds: Option<u64>,
    /// The next chunk expected.
    next: u64,
}

/// The device's side of a file stream.
#[derive(Debug)]
pub struct FileTransfer {
    input: FrameBuffer,
    out: VecDeque<Vec<u8>>,
    events: VecDeque<FileEvent>,
    uploads: VecDeque<(Uuid, FileToSend)>,
    upload: Option<Upload>,
    downloads: VecDeque<FileWanted>,
    download: Option<Download>,
    /// When the relay last answered while an answer was awaited.
    last_answer: Instant,
    closed: bool,
}

impl FileTransfer {
    pub fn new(now: Instant) -> FileTransfer {
        FileTransfer {
            input: FrameBuffer::default(),
            out: VecDeque::new(),
            events: VecDeque::new(),
            uploads: VecDeque::new(),
            upload: None,
            downloads: VecDeque::new(),
            download: None,
            last_answer: now,
            closed: false,
        }
    }

    /// Queues files of `journal` to send (a file queued or being sent
    /// already is not queued twice).
    pub fn send(&mut self, now: Instant, journal: Uuid, files: Vec<FileToSend>) {
        for file in files {
            let sending = self
                .upload
                .as_ref()
                .is_some_and(|u| u.file.hash == file.hash);
            if !sending && !self.uploads.iter().any(|(_, f)| f.hash == file.hash) {
                self.uploads.push_back((journal, file));
            }
        }
        self.wake(now);
    }

    /// Queues a file to fetch; false when [`MAX_FILE_REQUESTS_QUEUED`] are
    /// waiting already.
    pub fn fetch(&mut self, now: Instant, wanted: FileWanted) -> bool {
        let hash = wanted.file.hash;
        let fetching = self
            .download
            .as_ref()
            .is_some_and(|d| d.wanted.file.hash == hash);
        if fetching || self.downloads.iter().any(|w| w.file.hash == hash) {
            return true;
        }
        if self.downloads.len() >= MAX_FILE_REQUESTS_QUEUED {
            return false;
        }
        self.downloads.push_back(wanted);
        self.wake(now);
        true
    }

    /// Nothing to send, nothing awaited.
    pub fn is_idle(&self) -> bool {
        self.upload.is_none()
            && self.uploads.is_empty()
            && self.download.is_none()
            && self.downloads.is_empty()
            && self.out.is_empty()
    }

    pub fn is_closed(&self) -> bool {
        self.closed
    }

    /// The hashes of the files queued or being sent.
    pub fn sending(&self) -> impl Iterator<Item = FileHash> + '_ {
        let current = self.upload.as_ref().map(|u| u.file.hash);
        current
            .into_iter()
            .chain(self.uploads.iter().map(|(_, f)| f.hash))
    }

    /// An answer is awaited from now on: the reply clock starts here.
    fn wake(&mut self, now: Instant) {
        if !self.awaiting() {
            self.last_answer = now;
        }
    }

    /// Whether the relay owes an answer.
    fn awaiting(&self) -> bool {
        let upload = self.upload.as_ref().is_some_and(|u| match u.relay_holds {
            None => true,
            Some(held) => held < u.next,
        });
        let download = self.download.as_ref().is_some_and(|d| match d.relay_holds {
            None => true,
            Some(_) => d.next < chunk_count(d.wanted.file.bytes),
        });
        upload || download
    }

    pub fn handle_bytes(&mut self, now: Instant, bytes: &[u8], storage: &mut impl DeviceFiles) {
        if self.closed {
            return;
        }
        self.input.extend(bytes);
        loop {
            let frame = match self.input.next_frame() {
                Ok(Some(frame)) => frame,
                Ok(None) => return,
                Err(e) => return self.close(ProtocolError::from(e).into()),
            };
            self.last_answer = now;
            if let Err(reason) = self.on_frame(frame, storage) {
                return self.close(reason);
            }
        }
    }

    fn on_frame(
        &mut self,
        frame: Frame,
        storage: &mut impl DeviceFiles,
    ) -> Result<(), SessionError> {
        match frame {
            Frame::FileHeld { file, chunks_held } => self.on_held(file, chunks_held, storage),
            Frame::FileChunk {
                file,
                number,
                bytes,
            } => self.on_chunk(file, number, &bytes, storage),
            Frame::FileRefused {
                file,
                code,
                message,
            } => {
                if self.upload.as_ref().is_some_and(|u| u.file.hash == file) {
                    self.upload = None;
                } else if self
                    .download
                    .as_ref()
                    .is_some_and(|d| d.wanted.file.hash == file)
                {
                    self.download = None;
                } else {
                    return Err(out_of_turn("a refusal of a file not asked about"));
                }
                let hash = file;
                self.events.push_back(FileEvent::Refused {
                    hash,
                    code,
                    message,
                });
                Ok(())
            }
            Frame::Error { code, message } => Err(SessionError::Refused { code, message }),
            other => Err(ProtocolError::UnexpectedFrame(super::client::frame_name(&other)).into()),
        }
    }

    fn on_held(
        &mut self,
        hash: FileHash,
        held: u64,
        storage: &mut impl DeviceFiles,
    ) -> Result<(), SessionError> {
        if let Some(upload) = self.upload.as_mut().filter(|u| u.file.hash == hash) {
            let chunks = chunk_count(upload.file.bytes);
            let before = upload.relay_holds;
            // An answer to the offer may say anything up to the whole file;
            // an acknowledgement only covers chunks sent.
            let sane = match before {
                None => held <= chunks,
                Some(before) => held >= before && held <= upload.next,
            };
            if !sane {
                return Err(out_of_turn("an acknowledgement of chunks not sent"));
            }
            if before.is_none() {
                upload.next = held;
            }
            upload.relay_holds = Some(held);
            if held == chunks {
                let journal = upload.journal;
                self.upload = None;
                storage.file_sent(journal, hash)?;
                self.events.push_back(FileEvent::Sent { journal, hash });
            } else if before.is_some() {
                let event = FileEvent::Progress {
                    hash,
                    chunks_held: held,
                    chunks,
                };
                self.events.push_back(event);
            }
            return Ok(());
        }
        match self
            .download
            .as_mut()
            .filter(|d| d.wanted.file.hash == hash)
        {
            Some(download) if download.relay_holds.is_none() => {
                let chunks = chunk_count(download.wanted.file.bytes);
                if held > chunks {
                    return Err(out_of_turn("a file said to have more chunks than it has"));
                }
                download.relay_holds = Some(held);
                if held < chunks {
                    self.download = None;
                    let event = FileEvent::NotYetAtRelay {
                        hash,
                        chunks_held: held,
                    };
                    self.events.push_back(event);
                }
                Ok(())
            }
            _ => Err(out_of_turn("news of a file not asked about")),
        }
    }

    fn on_chunk(
        &mut self,
        hash: FileHash,
        number: u64,
        bytes: &[u8],
        storage: &mut impl DeviceFiles,
    ) -> Result<(), SessionError> {
        let Some(download) = self
            .download
            .as_mut()
            .filter(|d| d.wanted.file.hash == hash && d.relay_holds.is_some() && d.next == number)
        else {
            return Err(out_of_turn("a chunk of a file not being fetched"));
        };
        let stored = match storage.receive_file_chunk(download.wanted.file, number, bytes) {
            Ok(stored) => stored,
            Err(ReceiveChunkError::Store(e)) => return Err(StorageFailure::local(e).into()),
            // The relay sent bytes that are not the file (nothing kept).
            Err(e) => return Err(out_of_turn_owned(e)),
        };
        download.next = stored.chunks_held;
        if stored.is_whole() {
            self.download = None;
            self.events.push_back(FileEvent::Fetched { hash });
        }
        Ok(())
    }

    pub fn handle_timeout(&mut self, now: Instant) {
        if self.awaiting() && now >= self.last_answer + SESSION_REPLY_TIMEOUT {
            self.close(SessionError::TimedOut);
        }
    }

    pub fn handle_stream_closed(&mut self) {
        if !self.closed {
            self.close(SessionError::Closed);
        }
    }

    fn close(&mut self, reason: SessionError) {
        self.closed = true;
        if let SessionError::Protocol(e) = &reason {
            let refusal = Frame::Error {
                code: ErrorCode::Malformed,
                message: e.to_string(),
            };
            self.out.extend(refusal.encode().ok());
        }
        self.events.push_back(FileEvent::Closed { reason });
    }

    /// The next frame to send: answers first, then the next request, then
    /// the next chunk of the file being sent, read from storage only now.
    pub fn poll_transmit(
        &mut self,
        now: Instant,
        storage: &mut impl DeviceFiles,
    ) -> Option<Vec<u8>> {
        if let Some(bytes) = self.out.pop_front() {
            return Some(bytes);
        }
        if self.closed {
            return None;
        }
        let frame = match self.next_frame(now, storage) {
            Ok(frame) => frame?,
            Err(reason) => {
                self.close(reason);
                return self.out.pop_front();
            }
        };
        match frame.encode() {
            Ok(bytes) => Some(bytes),
            Err(e) => {
                self.close(e.into());
                None
            }
        }
    }

    fn next_frame(
        &mut self,
        now: Instant,
        storage: &mut impl DeviceFiles,
    ) -> Result<Option<Frame>, SessionError> {
        while self.download.is_none()
            && let Some(wanted) = self.downloads.pop_front()
        {
            let held = storage.held_file(wanted.file.hash)?;
            if held.is_some_and(|f| f.is_whole()) {
                // Fetched meanwhile (by another stream): nothing to ask.
                let hash = wanted.file.hash;
                self.events.push_back(FileEvent::Fetched { hash });
                continue;
            }
            self.wake(now);
            let from = held.map_or(0, |f| f.chunks_held);
            self.download = Some(Download {
                wanted,
                relay_holds: None,
                next: from,
            });
            return Ok(Some(Frame::FileWant {
                journal: wanted.journal,
                activity: wanted.activity.0,
                file: wanted.file.hash,
                from,
            }));
        }
        if self.upload.is_none()
            && let Some((journal, file)) = self.uploads.pop_front()
        {
            self.wake(now);
            self.upload = Some(Upload {
                journal,
                file,
                relay_holds: None,
                next: 0,
            });
            return Ok(Some(Frame::FileOffer {
                journal,
                activity: file.activity.0,
                file: file.hash,
                bytes: file.bytes,
            }));
        }
        let Some(upload) = self.upload.as_mut() else {
            return Ok(None);
        };
        let Some(held) = upload.relay_holds else {
            return Ok(None);
        };
        let chunks = chunk_count(upload.file.bytes);
        if upload.next >= chunks || upload.next - held >= MAX_FILE_CHUNKS_IN_FLIGHT {
            return Ok(None);
        }
        let hash = upload.file.hash;
        let number = upload.next;
        let Some(bytes) = storage.file_chunk(hash, number)? else {
            return Err(
                StorageFailure::local(format!("chunk {number} of file {hash} is gone")).into(),
            );
        };
        upload.next += 1;
        let awaited = upload.next - 1 == held;
        if awaited {
            self.last_answer = now;
        }
        Ok(Some(Frame::FileChunk {
            file: hash,
            number,
            bytes,
        }))
    }

    pub fn poll_event(&mut self) -> Option<FileEvent> {
        self.events.pop_front()
    }

    /// When the relay's answer is due, if one is awaited.
    pub fn poll_timeout(&self) -> Option<Instant> {
        (self.awaiting() && !self.closed).then_some(self.last_answer + SESSION_REPLY_TIMEOUT)
    }
}

fn out_of_turn(what: &'static str) -> SessionError {
    ProtocolError::OutOfTurn(what).into()
}

fn out_of_turn_owned(e: ReceiveChunkError) -> SessionError {
    let words: &'static str = match e {
        ReceiveChunkError::NotTheFile(_) => "the file sent is not the file asked for",
        ReceiveChunkError::WrongSize { .. } => "a chunk of the wrong size",
        ReceiveChunkError::OutOfOrder { .. } => "a chunk out of order",
        _ => "a chunk of a file that does not fit its record",
    };
    ProtocolError::OutOfTurn(words).into()
}

/// Files as the relay reaches them: per journal, the file's own store.
pub trait RelayFiles {
    /// The size the record of `activity` in `journal` states for `file`, if
    /// it refers to it: what a file offered or asked for is checked against.
    fn attachment_bytes(
        &mut self,
        journal: Uuid,
        activity: ActivityId,
        file: FileHash,
    ) -> Result<Option<u64>, StorageFailure>;
    fn held_file(
        &mut self,
        journal: Uuid,
        hash: FileHash,
    ) -> Result<Option<StoredFile>, StorageFailure>;
    /// Bytes of every file `journal` holds, whole or in part.
    fn file_bytes(&mut self, journal: Uuid) -> Result<u64, StorageFailure>;
    /// Stores a chunk durably ([`crate::Store::receive_file_chunk`]): the
    /// outer error is the relay's own failure (a full disk), the inner one
    /// why the chunk does not fit its file (nothing stored).
    fn receive_file_chunk(
        &mut self,
        journal: Uuid,
        file: FileDescription,
        number: u64,
        chunk: &[u8],
    ) -> Result<Result<StoredFile, ReceiveChunkError>, StorageFailure>;
    fn file_chunk(
        &mut self,
        journal: Uuid,
        hash: FileHash,
        number: u64,
    ) -> Result<Option<Vec<u8>>, StorageFailure>;
}

/// What a [`FileService`] tells its shell.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FileServiceEvent {
    /// A file is whole at the relay, its hash checked.
    Stored {
        journal: Uuid,
        hash: FileHash,
    },
    /// A file was refused (why, in words), the stream goes on.
    Refused {
        hash: FileHash,
        why: String,
    },
    Closed {
        reason: SessionError,
    },
}

/// A file offered and accepted: the chunks that may come for it.
#[derive(Clone, Copy, Debug)]
struct Accepted {
    journal: Uuid,
    file: FileDescription,
}

/// A file being given: the next chunk to send.
#[derive(Clone, Copy, Debug)]
struct Giving {
    journal: Uuid,
    hash: FileHash,
    next: u64,
    chunks: u64,
}

/// The relay's side of a file stream, for one device.
#[derive(Debug)]
pub struct FileService {
    grants: Vec<JournalGrant>,
    /// Bytes of files one journal may hold ([`crate::limits`]'s default or
    /// the relay's setting).
    max_journal_file_bytes: u64,
    input: FrameBuffer,
    out: VecDeque<Vec<u8>>,
    events: VecDeque<FileServiceEvent>,
    /// At most one file taken at a time: a device sends one after another.
    accepted: Option<Accepted>,
    giving: Option<Giving>,
    /// Files asked for while another is given.
    wanted: VecDeque<Giving>,
    closed: bool,
}

impl FileService {
    pub fn new(grants: Vec<JournalGrant>, max_journal_file_bytes: u64) -> FileService {
        FileService {
            grants,
            max_journal_file_bytes,
            input: FrameBuffer::default(),
            out: VecDeque::new(),
            events: VecDeque::new(),
            accepted: None,
            giving: None,
            wanted: VecDeque::new(),
            closed: false,
        }
    }

    pub fn is_closed(&self) -> bool {
        self.closed
    }

    /// Bytes of the frame being received, once its length came and while
    /// it is incomplete (the shell reads a large one only with a share of
    /// its memory budget).
    pub fn incoming_frame_bytes(&self) -> Option<usize> {
        self.input.incomplete_frame_bytes()
    }

    /// Whether a file is being given (chunks to send).
    pub fn wants_to_send(&self) -> bool {
        !self.out.is_empty() || (self.giving.is_some() && !self.closed)
    }

    /// Whether a file offered is being taken (more of its chunks are due).
    pub fn taking_a_file(&self) -> bool {
        self.accepted.is_some() && !self.closed
    }

    /// Whether the next frame sent is a chunk (read from storage, large).
    pub fn next_is_chunk(&self) -> bool {
        self.out.is_empty() && self.giving.is_some() && !self.closed
    }

    pub fn handle_bytes(&mut self, bytes: &[u8], storage: &mut impl RelayFiles) {
        if self.closed {
            return;
        }
        self.input.extend(bytes);
        loop {
            let frame = match self.input.next_frame() {
                Ok(Some(frame)) => frame,
                Ok(None) => return,
                Err(e) => return self.refuse_stream(ProtocolError::from(e).into()),
            };
            if let Err(reason) = self.on_frame(frame, storage) {
                return self.refuse_stream(reason);
            }
        }
    }

    pub fn handle_stream_closed(&mut self) {
        if !self.closed {
            self.closed = true;
            let reason = SessionError::Closed;
            self.events.push_back(FileServiceEvent::Closed { reason });
        }
    }

    /// Ends the stream with an `Error` frame: `code`, `message` (the
    /// shell's own reasons: a deadline, shutting down, a panic).
    pub fn refuse(&mut self, code: ErrorCode, message: &str) {
        let message = message.to_owned();
        self.refuse_stream(SessionError::Refused { code, message });
    }

    /// Ends the stream with an `Error` frame saying why.
    fn refuse_stream(&mut self, reason: SessionError) {
        if self.closed {
            return;
        }
        let code = match &reason {
            SessionError::Protocol(_) => ErrorCode::Malformed,
            SessionError::NotAllowed(_) => ErrorCode::NotAllowed,
            SessionError::Unavailable(_) => ErrorCode::Unavailable,
            SessionError::Refused { code, .. } => *code,
            _ => ErrorCode::Internal,
        };
        let message = match &reason {
            SessionError::Refused { message, .. } => message.clone(),
            other => other.to_string(),
        };
        let frame = Frame::Error { code, message };
        self.out.extend(frame.encode().ok());
        self.closed = true;
        self.events.push_back(FileServiceEvent::Closed { reason });
    }

    fn on_frame(
        &mut self,
        frame: Frame,
        storage: &mut impl RelayFiles,
    ) -> Result<(), SessionError> {
        match frame {
            Frame::FileOffer {
                journal,
                activity,
                file,
                bytes,
            } => self.on_offer(
                journal,
                ActivityId(activity),
                FileDescription { hash: file, bytes },
                storage,
            ),
            Frame::FileChunk {
                file,
                number,
                bytes,
            } => self.on_chunk(file, number, &bytes, storage),
            Frame::FileWant {
                journal,
                activity,
                file,
                from,
            } => self.on_want(journal, ActivityId(activity), file, from, storage),
            Frame::Error { code, message } => Err(SessionError::Refused { code, message }),
            other => Err(ProtocolError::UnexpectedFrame(super::client::frame_name(&other)).into()),
        }
    }

    fn access(&self, journal: Uuid) -> Option<Access> {
        self.grants
            .iter()
            .find(|g| g.journal == journal)
            .map(|g| g.access)
    }

    fn on_offer(
        &mut self,
        journal: Uuid,
        activity: ActivityId,
        file: FileDescription,
        storage: &mut impl RelayFiles,
    ) -> Result<(), SessionError> {
        if self.access(journal) != Some(Access::ReadWrite) {
            return Err(super::NotAllowed::Write(journal).into());
        }
        if self.accepted.is_some() {
            return Err(out_of_turn(
                "a second file offered before the first was whole",
            ));
        }
        let hash = file.hash;
        if let Some(refusal) = self.check_reference(journal, activity, file, storage)? {
            return self.refuse_file(hash, refusal);
        }
        let held = storage.held_file(journal, hash)?;
        let chunks_held = held.map_or(0, |f| f.chunks_held);
        if held.is_none() {
            let total = storage.file_bytes(journal)?;
            if total.saturating_add(file.bytes) > self.max_journal_file_bytes {
                let words = format!(
                    "the centre's files on the office server would exceed {} MB, the most it \
                     may hold; the office can raise the limit",
                    self.max_journal_file_bytes / 1_000_000
                );
                return self.refuse_file(hash, (ErrorCode::LimitReached, words));
            }
        }
        if held.is_none_or(|f| !f.is_whole()) {
            self.accepted = Some(Accepted { journal, file });
        }
        self.queue(Frame::FileHeld {
            file: hash,
            chunks_held,
        })
    }

    /// Why `activity` of `journal` does not refer to `file` as described, if
    /// it does not.
    fn check_reference(
        &self,
        journal: Uuid,
        activity: ActivityId,
        file: FileDescription,
        storage: &mut impl RelayFiles,
    ) -> Result<Option<(ErrorCode, String)>, SessionError> {
        Ok(
            match storage.attachment_bytes(journal, activity, file.hash)? {
                Some(bytes) if bytes == file.bytes => None,
                Some(bytes) => Some((
                    ErrorCode::NotAllowed,
                    format!(
                        "the record says file {} is {bytes} bytes, not {}",
                        file.hash, file.bytes
                    ),
                )),
                None => Some((
                    ErrorCode::NotAllowed,
                    format!(
                        "activity {activity} of this journal refers to no file {} at this office \
                     server (its record may not have arrived yet)",
                        file.hash
                    ),
                )),
            },
        )
    }

    fn refuse_file(
        &mut self,
        hash: FileHash,
        (code, message): (ErrorCode, String),
    ) -> Result<(), SessionError> {
        let why = message.clone();
        self.events
            .push_back(FileServiceEvent::Refused { hash, why });
        self.queue(Frame::FileRefused {
            file: hash,
            code,
            message,
        })
    }

    fn on_chunk(
        &mut self,
        hash: FileHash,
        number: u64,
        bytes: &[u8],
        storage: &mut impl RelayFiles,
    ) -> Result<(), SessionError> {
        let Some(accepted) = self.accepted.filter(|a| a.file.hash == hash) else {
            return Err(out_of_turn("a chunk of a file not offered and accepted"));
        };
        let stored =
            match storage.receive_file_chunk(accepted.journal, accepted.file, number, bytes)? {
                Ok(stored) => stored,
                Err(ReceiveChunkError::Store(e)) => return Err(StorageFailure::local(e).into()),
                Err(e) => {
                    self.accepted = None;
                    return Err(out_of_turn_owned(e));
                }
            };
        if stored.is_whole() {
            self.accepted = None;
            let journal = accepted.journal;
            self.events
                .push_back(FileServiceEvent::Stored { journal, hash });
        }
        self.queue(Frame::FileHeld {
            file: hash,
            chunks_held: stored.chunks_held,
        })
    }

    fn on_want(
        &mut self,
        journal: Uuid,
        activity: ActivityId,
        hash: FileHash,
        from: u64,
        storage: &mut impl RelayFiles,
    ) -> Result<(), SessionError> {
        if self.access(journal).is_none() {
            return Err(super::NotAllowed::Sync(journal).into());
        }
        if self.wanted.len() >= MAX_FILE_REQUESTS_QUEUED {
            return Err(out_of_turn("too many files asked for at once"));
        }
        let Some(bytes) = storage.attachment_bytes(journal, activity, hash)? else {
            let words = format!("activity {activity} of this journal refers to no file {hash}");
            return self.refuse_file(hash, (ErrorCode::NotAllowed, words));
        };
        let chunks = chunk_count(bytes);
        let held = storage.held_file(journal, hash)?;
        let chunks_held = held
            .filter(|f| f.bytes == bytes)
            .map_or(0, |f| f.chunks_held);
        self.queue(Frame::FileHeld {
            file: hash,
            chunks_held,
        })?;
        if chunks_held == chunks && from < chunks {
            let giving = Giving {
                journal,
                hash,
                next: from,
                chunks,
            };
            match self.giving {
                None => self.giving = Some(giving),
                Some(_) => self.wanted.push_back(giving),
            }
        }
        Ok(())
    }

    fn queue(&mut self, frame: Frame) -> Result<(), SessionError> {
        self.out.push_back(frame.encode()?);
        Ok(())
    }

    /// The next frame to send: answers first, then the next chunk of a file
    /// being given, read from storage only now.
    pub fn poll_transmit(&mut self, storage: &mut impl RelayFiles) -> Option<Vec<u8>> {
        if let Some(bytes) = self.out.pop_front() {
            return Some(bytes);
        }
        if self.closed {
            return None;
        }
        let giving = self.giving.as_mut()?;
        let (journal, hash, number) = (giving.journal, giving.hash, giving.next);
        giving.next += 1;
        if giving.next == giving.chunks {
            self.giving = self.wanted.pop_front();
        }
        let chunk = match storage.file_chunk(journal, hash, number) {
            Ok(Some(bytes)) => bytes,
            Ok(None) => {
                let gone = StorageFailure::local(format!("chunk {number} of file {hash} is gone"));
                self.refuse_stream(gone.into());
                return self.out.pop_front();
            }
            Err(e) => {
                self.refuse_stream(e.into());
                return self.out.pop_front();
            }
        };
        let frame = Frame::FileChunk {
            file: hash,
            number,
            bytes: chunk,
        };
        match frame.encode() {
            Ok(bytes) => Some(bytes),
            Err(e) => {
                self.refuse_stream(e.into());
                self.out.pop_front()
            }
        }
    }

    pub fn poll_event(&mut self) -> Option<FileServiceEvent> {
        self.events.pop_front()
    }
}
