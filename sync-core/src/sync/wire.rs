//! The wire format of docs/PROTOCOL.md: frames, their payloads, and the
//! byte-level encoding. Wire types are separate from domain types and are
//! converted by hand, so that the bytes only change when the protocol does.

use std::borrow::Cow;

use automerge::ChangeHash;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::attest::{ATTESTATION_TAG_BYTES, AttestationTag};
use crate::files::{FileHash, chunk_count};
use crate::limits::{
    COMPRESS_MIN_BYTES, FILE_CHUNK_BYTES, MAX_CHANGES_PER_BATCH, MAX_FILE_BYTES, MAX_FRAME_BYTES,
    MAX_FRAME_PAYLOAD_BYTES, MAX_HEADS, MAX_HEALTH_DEVICES, MAX_JOURNALS_PER_SESSION,
    MAX_TEXT_BYTES,
};

/// The protocol version this code speaks.
pub const PROTOCOL_VERSION: u16 = 6;

/// `Hello`'s unsent count when the device cannot say.
const UNSENT_UNKNOWN: u32 = u32::MAX;

/// Bytes of a batch digest (truncated SHA-256). The digest checks that a
/// bundle unpacked to exactly the changes its sender named and ties an `Ack`
/// to its batch, inside an authenticated TLS stream: an accidental match of
/// 64 bits is out of reach, and every byte counts on a prepaid link.
pub const BATCH_DIGEST_BYTES: usize = 8;

/// A batch's digest (see [`super::batch_digest`]).
pub type BatchDigest = [u8; BATCH_DIGEST_BYTES];

/// Bytes before the payload: length (4), kind (1), flags (1).
pub const FRAME_HEADER_BYTES: usize = 6;

const FLAG_ZSTD: u8 = 0b0000_0001;
const FLAG_ZSTD_DICTIONARY: u8 = 0b0000_0010;

/// The zstd dictionary of `FLAG_ZSTD_DICTIONARY` frames, trained on activity
/// changes by `cargo run -p sync-core --example train_frame_dictionary`. Part
/// of the protocol: a new dictionary means a new protocol version.
static FRAME_DICTIONARY: &[u8] = include_bytes!("frames-v2.dict");

/// `Changes` flags (a byte of its payload).
const BATCH_MORE: u8 = 0b0000_0001;
const BATCH_SENT_BEFORE_HEADS: u8 = 0b0000_0010;
const BATCH_CHANGE_LIST: u8 = 0b0000_0100;
/// The batch ends with the relay's attestations of some of its changes.
const BATCH_ATTESTED: u8 = 0b0000_1000;

/// The relay's tag on one change of a batch (see [`super::attest`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BatchAttestation {
    /// The change's place among the batch's hashes sorted in ascending
    /// order (the order of the batch digest), so that the tag names its
    /// change in two bytes whatever order the bundle keeps.
    pub position: u16,
    pub tag: AttestationTag,
}

/// How a `Changes` frame carries its changes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BatchEncoding {
    /// One Automerge bundle (columnar: compact for many changes).
    Bundle,
    /// Each change's own bytes, uncompressed (`u32` length, then the bytes),
    /// for the frame's zstd dictionary: smaller for a few changes.
    ChangeList,
}

/// zstd level for frames: level 3 is zstd's default, a good ratio at a speed far
/// above any mobile link.
const ZSTD_LEVEL: i32 = 3;

/// Access a device has to a journal.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    Read,
    ReadWrite,
}

/// A journal offered in `Welcome`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JournalGrant {
    pub journal: Uuid,
    pub centre: String,
    /// The centre's municipality, for reports; empty when the office set none.
    pub municipality: String,
    pub access: Access,
}

/// What the relay knows about one enrolled device, for the office's
/// sync-health table (`Health` frame).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct DeviceHealth {
    pub device: Uuid,
    /// The centre (journal) the device belongs to.
    pub centre: Uuid,
    pub name: String,
    pub role: Role,
    pub revoked: bool,
    pub enrolled_at: DateTime<Utc>,
    /// Last time the device connected at all.
    pub last_contact: Option<DateTime<Utc>>,
    /// Last time the relay held every change the device had when it opened
    /// a round of its centre's journal: a successful sync.
    pub last_synced: Option<DateTime<Utc>>,
    /// Activities the device said were not yet sent when it last connected,
    /// if it said; 0 once it synced successfully after that.
    pub unsent: Option<u32>,
}

/// Why a relay did not accept an enrolment code: the words of its `Error`
/// frame (code [`ErrorCode::NotAllowed`]) answering `Enrol`, fixed so that a
/// client can tell them apart and say them in its user's language
/// (docs/PROTOCOL.md, "Enrolment refusals").
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EnrolRefusal {
    /// No such code: mistyped, or made for another relay.
    UnknownCode,
    ExpiredCode,
    UsedCode,
    /// The device's key is enrolled already.
    AlreadyEnrolled,
}

impl EnrolRefusal {
    pub const ALL: [EnrolRefusal; 4] = [
        EnrolRefusal::UnknownCode,
        EnrolRefusal::ExpiredCode,
        EnrolRefusal::UsedCode,
        EnrolRefusal::AlreadyEnrolled,
    ];

    /// The words on the wire.
    pub fn text(self) -> &'static str {
        match self {
            EnrolRefusal::UnknownCode => {
                "this enrolment code is not valid (mistyped, or made for another relay)"
            }
            EnrolRefusal::ExpiredCode => {
                "this enrolment code has expired; ask the office for a new one"
            }
            EnrolRefusal::UsedCode => {
                "this enrolment code was already used; ask the office for a new one"
            }
            EnrolRefusal::AlreadyEnrolled => "this device is already enrolled",
        }
    }

    /// Which refusal `text` is, if it is one of them.
    pub fn from_text(text: &str) -> Option<EnrolRefusal> {
        EnrolRefusal::ALL.into_iter().find(|r| r.text() == text)
    }
}

/// Numbered error codes (docs/PROTOCOL.md, "Error codes").
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorCode {
    UnsupportedVersion = 1,
    Malformed = 2,
    TooLarge = 3,
    NotAllowed = 4,
    Revoked = 5,
    UnknownJournal = 6,
    LimitReached = 7,
    Internal = 8,
    /// The relay cannot store anything now (its disk is full); it keeps
    /// serving what it holds and recovers by itself.
    Unavailable = 9,
}

impl ErrorCode {
    fn from_u16(n: u16) -> Option<ErrorCode> {
        use ErrorCode::*;
        [
            UnsupportedVersion,
            Malformed,
            TooLarge,
            NotAllowed,
            Revoked,
            UnknownJournal,
            LimitReached,
            Internal,
            Unavailable,
        ]
        .into_iter()
        .find(|c| *c as u16 == n)
    }
}

/// One frame of the protocol.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Frame {
    Hello {
        version: u16,
        software: String,
        /// Activities recorded on the device and not yet acknowledged, as it
        /// counts them (`None`: it cannot say).
        unsent: Option<u32>,
        journals: Vec<Uuid>,
    },
    Welcome {
        version: u16,
        journals: Vec<JournalGrant>,
    },
    Open {
        journal: Uuid,
        /// The journal's epoch on the device (raised by each erasure).
        epoch: u32,
        heads: Vec<ChangeHash>,
        acked: Vec<ChangeHash>,
    },
    Heads {
        journal: Uuid,
        /// The journal's epoch at the relay: when it differs from the device's,
        /// the device's heads and changes belong to another journal.
        epoch: u32,
        heads: Vec<ChangeHash>,
        has_acked: bool,
    },
    /// A batch of changes as an Automerge bundle; `digest` is over the sorted
    /// hashes of the `count` changes it holds (see [`super::batch_digest`]).
    Changes {
        journal: Uuid,
        /// More batches follow in this direction in this round.
        more: bool,
        /// Sent by the client right after `Open`, computed from the heads the
        /// relay last acknowledged, before the relay's `Heads` arrived.
        sent_before_heads: bool,
        count: u32,
        digest: BatchDigest,
        encoding: BatchEncoding,
        /// The changes, as `encoding` says (empty when `count` is 0).
        bundle: Vec<u8>,
        /// The relay's tags on the changes written by devices other than
        /// the receiver (relay to device), or the tags a device kept for
        /// other devices' changes it sends back (device to relay); in
        /// ascending order of position.
        attested: Vec<BatchAttestation>,
    },
    /// The relay committed a batch: its heads now, and the batch's count and digest.
    Ack {
        journal: Uuid,
        heads: Vec<ChangeHash>,
        count: u32,
        digest: BatchDigest,
    },
    Notify {
        journal: Uuid,
    },
    Error {
        code: ErrorCode,
        message: String,
    },
    Enrol {
        secret: [u8; 32],
        device: Uuid,
        device_name: String,
        software: String,
    },
    Enrolled {
        journal: Uuid,
        centre: String,
        role: Role,
    },
    /// Relay to office devices: every enrolled device's sync health.
    Health {
        devices: Vec<DeviceHealth>,
    },
    /// Office to relay: erase this activity for privacy (docs/ERASURE.md).
    Erase {
        activity: Uuid,
    },
    /// Relay to office: the answer to `Erase`. `rewritten`: the journal that
    /// held the activity and its new epoch; `None` when no journal holds it.
    Erased {
        activity: Uuid,
        rewritten: Option<(Uuid, u32)>,
    },
    /// Device to relay, on a file stream: this file, which `activity` of
    /// `journal` refers to, is to be sent; how much of it is held?
    FileOffer {
        journal: Uuid,
        activity: Uuid,
        file: FileHash,
        bytes: u64,
    },
    /// Relay to device: the relay durably holds the file's first
    /// `chunks_held` chunks (all of them: it is whole, its hash checked).
    /// The answer to `FileOffer` and `FileWant`, and to each chunk stored.
    FileHeld {
        file: FileHash,
        chunks_held: u64,
    },
    /// Either way: chunk `number` (from 0) of a file, [`FILE_CHUNK_BYTES`]
    /// long but the last.
    FileChunk {
        file: FileHash,
        number: u64,
        bytes: Vec<u8>,
    },
    /// Device to relay: send this file, from chunk `from`.
    FileWant {
        journal: Uuid,
        activity: Uuid,
        file: FileHash,
        from: u64,
    },
    /// Relay to device: this file will not be taken or given (no record of
    /// the journal refers to it so, or a limit); the stream goes on.
    FileRefused {
        file: FileHash,
        code: ErrorCode,
        message: String,
    },
}

/// What an enrolled device is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// A centre's device: reads and writes its centre's journal only.
    Centre,
    /// The central office: reads and writes every journal.
    Office,
}

/// Why bytes are not a valid frame.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    #[error("frame of {0} bytes is over the limit of {MAX_FRAME_BYTES}")]
    TooLarge(usize),
    #[error("frame ends early")]
    Truncated,
    #[error("unknown frame kind {0}")]
    UnknownKind(u8),
    #[error("unknown flags {0:#04x}")]
    UnknownFlags(u8),
    #[error("compressed payload is damaged or expands beyond {MAX_FRAME_PAYLOAD_BYTES} bytes")]
    BadCompression,
    #[error("{0}")]
    Invalid(&'static str),
    #[error("{0} bytes left over after the payload")]
    TrailingBytes(usize),
}

/// Why a frame cannot be encoded (it would break a limit).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EncodeError {
    #[error("frame would be {0} bytes, over the limit of {MAX_FRAME_BYTES}")]
    TooLarge(usize),
    #[error("{0}")]
    OverLimit(&'static str),
}

impl Frame {
    fn kind(&self) -> u8 {
        match self {
            Frame::Hello { .. } => 1,
            Frame::Welcome { .. } => 2,
            Frame::Open { .. } => 3,
            Frame::Heads { .. } => 4,
            Frame::Changes { .. } => 5,
            Frame::Ack { .. } => 6,
            Frame::Notify { .. } => 8,
            Frame::Error { .. } => 9,
            Frame::Enrol { .. } => 10,
            Frame::Enrolled { .. } => 11,
            Frame::Health { .. } => 12,
            Frame::Erase { .. } => 13,
            Frame::Erased { .. } => 14,
            Frame::FileOffer { .. } => 15,
            Frame::FileHeld { .. } => 16,
            Frame::FileChunk { .. } => 17,
            Frame::FileWant { .. } => 18,
            Frame::FileRefused { .. } => 19,
        }
    }

    /// True for the frames of a file stream (docs/PROTOCOL.md, "Files"):
    /// the first frame of a stream tells which kind of stream it is.
    pub fn is_file_frame(kind: u8) -> bool {
        (15..=19).contains(&kind)
    }

    /// Encodes the frame with its header, compressing `Changes` payloads when
    /// that makes them smaller.
    pub fn encode(&self) -> Result<Vec<u8>, EncodeError> {
        let mut w = Writer::default();
        self.write_payload(&mut w)?;
        let mut payload = w.0;
        if payload.len() > MAX_FRAME_PAYLOAD_BYTES {
            return Err(EncodeError::TooLarge(payload.len()));
        }
        let mut flags = 0;
        if matches!(self, Frame::Changes { .. }) && payload.len() >= COMPRESS_MIN_BYTES {
            (payload, flags) = smallest_compression(payload);
        }
        let length = payload.len() + 2;
        if length > MAX_FRAME_BYTES {
            return Err(EncodeError::TooLarge(length));
        }
        let mut out = Vec::with_capacity(FRAME_HEADER_BYTES + payload.len());
        out.extend_from_slice(&(length as u32).to_be_bytes());
        out.push(self.kind());
        out.push(flags);
        out.extend_from_slice(&payload);
        Ok(out)
    }

    fn write_payload(&self, w: &mut Writer) -> Result<(), EncodeError> {
        match self {
            Frame::Hello {
                version,
                software,
                unsent,
                journals,
            } => {
                w.u16(*version);
                w.text(software)?;
                w.u32(unsent.unwrap_or(UNSENT_UNKNOWN));
                w.count(
                    journals.len(),
                    MAX_JOURNALS_PER_SESSION,
                    "too many journals",
                )?;
                journals.iter().for_each(|j| w.uuid(j));
            }
            Frame::Welcome { version, journals } => {
                w.u16(*version);
                w.count(
                    journals.len(),
                    MAX_JOURNALS_PER_SESSION,
                    "too many journals",
                )?;
                for g in journals {
                    w.uuid(&g.journal);
                    w.text(&g.centre)?;
                    w.text(&g.municipality)?;
                    w.u8(match g.access {
                        Access::Read => 1,
                        Access::ReadWrite => 3,
                    });
                }
            }
            Frame::Open {
                journal,
                epoch,
                heads,
                acked,
            } => {
                w.uuid(journal);
                w.u32(*epoch);
                w.heads(heads)?;
                w.heads(acked)?;
            }
            Frame::Heads {
                journal,
                epoch,
                heads,
                has_acked,
            } => {
                w.uuid(journal);
                w.u32(*epoch);
                w.heads(heads)?;
                w.u8(u8::from(*has_acked));
            }
            Frame::Changes {
                journal,
                more,
                sent_before_heads,
                count,
                digest,
                encoding,
                bundle,
                attested,
            } => {
                w.uuid(journal);
                let flags = [
                    (*more, BATCH_MORE),
                    (*sent_before_heads, BATCH_SENT_BEFORE_HEADS),
                    (*encoding == BatchEncoding::ChangeList, BATCH_CHANGE_LIST),
                    (!attested.is_empty(), BATCH_ATTESTED),
                ];
                w.u8(flags.iter().filter(|(on, _)| *on).map(|(_, bit)| bit).sum());
                if *count as usize > MAX_CHANGES_PER_BATCH {
                    return Err(EncodeError::OverLimit("too many changes in one batch"));
                }
                w.u32(*count);
                w.0.extend_from_slice(digest);
                w.bytes(bundle);
                if !attested.is_empty() {
                    write_attestations(w, attested, *count)?;
                }
            }
            Frame::Ack {
                journal,
                heads,
                count,
                digest,
            } => {
                w.uuid(journal);
                w.heads(heads)?;
                if *count as usize > MAX_CHANGES_PER_BATCH {
                    return Err(EncodeError::OverLimit(
                        "too many changes in one acknowledgement",
                    ));
                }
                w.u32(*count);
                w.0.extend_from_slice(digest);
            }
            Frame::Notify { journal } => w.uuid(journal),
            Frame::Error { code, message } => {
                w.u16(*code as u16);
                let mut m = message.clone();
                truncate_to_bytes(&mut m, MAX_TEXT_BYTES);
                w.text(&m)?;
            }
            Frame::Enrol {
                secret,
                device,
                device_name,
                software,
            } => {
                w.0.extend_from_slice(secret);
                w.uuid(device);
                w.text(device_name)?;
                w.text(software)?;
            }
            Frame::Enrolled {
                journal,
                centre,
                role,
            } => {
                w.uuid(journal);
                w.text(centre)?;
                w.role(*role);
            }
            Frame::Health { devices } => {
                w.count(devices.len(), MAX_HEALTH_DEVICES, "too many devices")?;
                for d in devices {
                    write_device_health(w, d)?;
                }
            }
            Frame::Erase { activity } => w.uuid(activity),
            Frame::Erased {
                activity,
                rewritten,
            } => {
                w.uuid(activity);
                w.u8(u8::from(rewritten.is_some()));
                if let Some((journal, epoch)) = rewritten {
                    w.uuid(journal);
                    w.u32(*epoch);
                }
            }
            Frame::FileOffer {
                journal,
                activity,
                file,
                bytes,
            } => {
                w.uuid(journal);
                w.uuid(activity);
                w.0.extend_from_slice(&file.0);
                w.u64(*bytes);
            }
            Frame::FileHeld { file, chunks_held } => {
                w.0.extend_from_slice(&file.0);
                w.u64(*chunks_held);
            }
            Frame::FileChunk {
                file,
                number,
                bytes,
            } => {
                if bytes.is_empty() || bytes.len() > FILE_CHUNK_BYTES {
                    return Err(EncodeError::OverLimit(
                        "a file chunk of a size no chunk has",
                    ));
                }
                w.0.extend_from_slice(&file.0);
                w.u64(*number);
                w.bytes(bytes);
            }
            Frame::FileWant {
                journal,
                activity,
                file,
                from,
            } => {
                w.uuid(journal);
                w.uuid(activity);
                w.0.extend_from_slice(&file.0);
                w.u64(*from);
            }
            Frame::FileRefused {
                file,
                code,
                message,
            } => {
                w.0.extend_from_slice(&file.0);
                w.u16(*code as u16);
                let mut m = message.clone();
                truncate_to_bytes(&mut m, MAX_TEXT_BYTES);
                w.text(&m)?;
            }
        }
        Ok(())
    }

    /// Decodes one complete frame (header included). Use [`FrameBuffer`] to cut
    /// frames out of a byte stream.
    pub fn decode(bytes: &[u8]) -> Result<Frame, DecodeError> {
        let (kind, payload) = payload_of(bytes)?;
        let mut r = Reader(&payload);
        let frame = read_payload(kind, &mut r)?;
        if !r.0.is_empty() {
            return Err(DecodeError::TrailingBytes(r.0.len()));
        }
        Ok(frame)
    }
}

/// The kind and the payload of one complete frame, decompressed when its
/// flags say so: the bytes its kind's fields are read from (what
/// docs/PROTOCOL.md's examples show).
pub fn payload_of(bytes: &[u8]) -> Result<(u8, Cow<'_, [u8]>), DecodeError> {
    if bytes.len() < FRAME_HEADER_BYTES {
        return Err(DecodeError::Truncated);
    }
    let length = u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]) as usize;
    if length > MAX_FRAME_BYTES {
        return Err(DecodeError::TooLarge(length));
    }
    if length < 2 || bytes.len() - 4 < length {
        return Err(DecodeError::Truncated);
    }
    if bytes.len() - 4 > length {
        return Err(DecodeError::TrailingBytes(bytes.len() - 4 - length));
    }
    let (kind, flags) = (bytes[4], bytes[5]);
    let raw = &bytes[FRAME_HEADER_BYTES..];
    let payload = match flags {
        0 => Cow::Borrowed(raw),
        FLAG_ZSTD | FLAG_ZSTD_DICTIONARY => {
            Cow::Owned(decompress(raw, flags == FLAG_ZSTD_DICTIONARY)?)
        }
        _ => return Err(DecodeError::UnknownFlags(flags)),
    };
    Ok((kind, payload))
}

/// The smallest of `payload` as it is, zstd-compressed, and zstd-compressed
/// with the frame dictionary; with the frame flags that say which.
fn smallest_compression(payload: Vec<u8>) -> (Vec<u8>, u8) {
    let plain = zstd::bulk::compress(&payload, ZSTD_LEVEL).ok();
    let with_dictionary = zstd::bulk::Compressor::with_dictionary(ZSTD_LEVEL, FRAME_DICTIONARY)
        .and_then(|mut c| c.compress(&payload))
        .ok();
    let mut best = (payload, 0);
    for (candidate, flag) in [(plain, FLAG_ZSTD), (with_dictionary, FLAG_ZSTD_DICTIONARY)] {
        if let Some(smaller) = candidate.filter(|c| c.len() < best.0.len()) {
            best = (smaller, flag);
        }
    }
    best
}

fn decompress(raw: &[u8], with_dictionary: bool) -> Result<Vec<u8>, DecodeError> {
    let mut decompressor = if with_dictionary {
        zstd::bulk::Decompressor::with_dictionary(FRAME_DICTIONARY)
    } else {
        zstd::bulk::Decompressor::new()
    }
    .map_err(|_| DecodeError::BadCompression)?;
    decompressor
        .decompress(raw, MAX_FRAME_PAYLOAD_BYTES)
        .map_err(|_| DecodeError::BadCompression)
}

fn read_payload(kind: u8, r: &mut Reader<'_>) -> Result<Frame, DecodeError> {
    Ok(match kind {
        1 => Frame::Hello {
            version: r.u16()?,
            software: r.text()?,
            unsent: Some(r.u32()?).filter(|&n| n != UNSENT_UNKNOWN),
            journals: r.list(MAX_JOURNALS_PER_SESSION, Reader::uuid)?,
        },
        2 => Frame::Welcome {
            version: r.u16()?,
            journals: r.list(MAX_JOURNALS_PER_SESSION, read_grant)?,
        },
        3 => Frame::Open {
            journal: r.uuid()?,
            epoch: r.u32()?,
            heads: r.heads()?,
            acked: r.heads()?,
        },
        4 => Frame::Heads {
            journal: r.uuid()?,
            epoch: r.u32()?,
            heads: r.heads()?,
            has_acked: r.flag()?,
        },
        5 => {
            let journal = r.uuid()?;
            let flags = r.u8()?;
            let known = BATCH_MORE | BATCH_SENT_BEFORE_HEADS | BATCH_CHANGE_LIST | BATCH_ATTESTED;
            if flags & !known != 0 {
                return Err(DecodeError::Invalid("unknown batch flags"));
            }
            let count = r.count32(MAX_CHANGES_PER_BATCH)?;
            Frame::Changes {
                journal,
                more: flags & BATCH_MORE != 0,
                sent_before_heads: flags & BATCH_SENT_BEFORE_HEADS != 0,
                count,
                digest: r.digest()?,
                encoding: if flags & BATCH_CHANGE_LIST != 0 {
                    BatchEncoding::ChangeList
                } else {
                    BatchEncoding::Bundle
                },
                bundle: r.bytes()?.to_vec(),
                attested: if flags & BATCH_ATTESTED != 0 {
                    read_attestations(r, count)?
                } else {
                    Vec::new()
                },
            }
        }
        6 => Frame::Ack {
            journal: r.uuid()?,
            heads: r.heads()?,
            count: r.count32(MAX_CHANGES_PER_BATCH)?,
            digest: r.digest()?,
        },
        8 => Frame::Notify { journal: r.uuid()? },
        9 => Frame::Error {
            code: ErrorCode::from_u16(r.u16()?)
                .ok_or(DecodeError::Invalid("unknown error code"))?,
            message: r.text()?,
        },
        10 => Frame::Enrol {
            secret: r.take(32)?.try_into().map_err(|_| DecodeError::Truncated)?,
            device: r.uuid()?,
            device_name: r.text()?,
            software: r.text()?,
        },
        11 => Frame::Enrolled {
            journal: r.uuid()?,
            centre: r.text()?,
            role: r.role()?,
        },
        12 => Frame::Health {
            devices: r.list(MAX_HEALTH_DEVICES, read_device_health)?,
        },
        13 => Frame::Erase {
            activity: r.uuid()?,
        },
        14 => Frame::Erased {
            activity: r.uuid()?,
            rewritten: match r.flag()? {
                true => Some((r.uuid()?, r.u32()?)),
                false => None,
            },
        },
        15 => Frame::FileOffer {
            journal: r.uuid()?,
            activity: r.uuid()?,
            file: r.file_hash()?,
            bytes: match r.u64()? {
                n @ 1..=MAX_FILE_BYTES => n,
                _ => return Err(DecodeError::Invalid("a file of a size no file may have")),
            },
        },
        16 => Frame::FileHeld {
            file: r.file_hash()?,
            chunks_held: r.chunk_number()?,
        },
        17 => Frame::FileChunk {
            file: r.file_hash()?,
            number: r.chunk_number()?,
            bytes: match r.bytes()? {
                b if !b.is_empty() && b.len() <= FILE_CHUNK_BYTES => b.to_vec(),
                _ => return Err(DecodeError::Invalid("a file chunk of a size no chunk has")),
            },
        },
        18 => Frame::FileWant {
            journal: r.uuid()?,
            activity: r.uuid()?,
            file: r.file_hash()?,
            from: r.chunk_number()?,
        },
        19 => Frame::FileRefused {
            file: r.file_hash()?,
            code: ErrorCode::from_u16(r.u16()?)
                .ok_or(DecodeError::Invalid("unknown error code"))?,
            message: r.text()?,
        },
        other => return Err(DecodeError::UnknownKind(other)),
    })
}

/// At most one tag per change of the batch, in ascending order of position.
fn write_attestations(
    w: &mut Writer,
    attested: &[BatchAttestation],
    count: u32,
) -> Result<(), EncodeError> {
    if !positions_ascend_below(attested, count) {
        return Err(EncodeError::OverLimit(
            "attestations must name distinct changes of the batch in order",
        ));
    }
    w.count(
        attested.len(),
        MAX_CHANGES_PER_BATCH,
        "too many attestations",
    )?;
    for a in attested {
        w.u16(a.position);
        w.0.extend_from_slice(&a.tag);
    }
    Ok(())
}

fn read_attestations(r: &mut Reader<'_>, count: u32) -> Result<Vec<BatchAttestation>, DecodeError> {
    let attested = r.list(MAX_CHANGES_PER_BATCH, |r| {
        Ok(BatchAttestation {
            position: r.u16()?,
            tag: r
                .take(ATTESTATION_TAG_BYTES)?
                .try_into()
                .map_err(|_| DecodeError::Truncated)?,
        })
    })?;
    if attested.is_empty() || !positions_ascend_below(&attested, count) {
        return Err(DecodeError::Invalid(
            "attestations must name distinct changes of the batch in order",
        ));
    }
    Ok(attested)
}

fn positions_ascend_below(attested: &[BatchAttestation], count: u32) -> bool {
    attested.windows(2).all(|w| w[0].position < w[1].position)
        && attested
            .last()
            .is_none_or(|a| u32::from(a.position) < count)
}

fn write_device_health(w: &mut Writer, d: &DeviceHealth) -> Result<(), EncodeError> {
    w.uuid(&d.device);
    w.uuid(&d.centre);
    w.text(&d.name)?;
    w.role(d.role);
    w.u8(u8::from(d.revoked));
    w.time(Some(d.enrolled_at));
    w.time(d.last_contact);
    w.time(d.last_synced);
    w.u32(d.unsent.unwrap_or(UNSENT_UNKNOWN));
    Ok(())
}

fn read_device_health(r: &mut Reader<'_>) -> Result<DeviceHealth, DecodeError> {
    Ok(DeviceHealth {
        device: r.uuid()?,
        centre: r.uuid()?,
        name: r.text()?,
        role: r.role()?,
        revoked: r.flag()?,
        enrolled_at: r
            .time()?
            .ok_or(DecodeError::Invalid("a device without an enrolment time"))?,
        last_contact: r.time()?,
        last_synced: r.time()?,
        unsent: Some(r.u32()?).filter(|&n| n != UNSENT_UNKNOWN),
    })
}

fn read_grant(r: &mut Reader<'_>) -> Result<JournalGrant, DecodeError> {
    Ok(JournalGrant {
        journal: r.uuid()?,
        centre: r.text()?,
        municipality: r.text()?,
        access: match r.u8()? {
            1 => Access::Read,
            3 => Access::ReadWrite,
            _ => return Err(DecodeError::Invalid("unknown access level")),
        },
    })
}

fn truncate_to_bytes(s: &mut String, max: usize) {
    if s.len() > max {
        let mut end = max;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        s.truncate(end);
    }
}

#[derive(Default)]
struct Writer(Vec<u8>);

impl Writer {
    fn u8(&mut self, v: u8) {
        self.0.push(v);
    }
    fn u16(&mut self, v: u16) {
        self.0.extend_from_slice(&v.to_be_bytes());
    }
    fn u32(&mut self, v: u32) {
        self.0.extend_from_slice(&v.to_be_bytes());
    }
    fn u64(&mut self, v: u64) {
        self.0.extend_from_slice(&v.to_be_bytes());
    }
    fn uuid(&mut self, v: &Uuid) {
        self.0.extend_from_slice(v.as_bytes());
    }
    fn role(&mut self, role: Role) {
        self.u8(match role {
            Role::Centre => 1,
            Role::Office => 2,
        });
    }
    /// Seconds since 1970 (UTC), 0 for none; times before 1970 are never sent.
    fn time(&mut self, t: Option<DateTime<Utc>>) {
        let secs = t.map_or(0, |t| u64::try_from(t.timestamp()).unwrap_or(0));
        self.0.extend_from_slice(&secs.to_be_bytes());
    }
    fn bytes(&mut self, v: &[u8]) {
        self.u32(v.len() as u32);
        self.0.extend_from_slice(v);
    }
    fn text(&mut self, v: &str) -> Result<(), EncodeError> {
        if v.len() > MAX_TEXT_BYTES {
            return Err(EncodeError::OverLimit("text too long"));
        }
        self.u16(v.len() as u16);
        self.0.extend_from_slice(v.as_bytes());
        Ok(())
    }
    fn count(&mut self, n: usize, max: usize, what: &'static str) -> Result<(), EncodeError> {
        if n > max || n > usize::from(u16::MAX) {
            return Err(EncodeError::OverLimit(what));
        }
        self.u16(n as u16);
        Ok(())
    }
    fn heads(&mut self, heads: &[ChangeHash]) -> Result<(), EncodeError> {
        self.count(heads.len(), MAX_HEADS, "too many heads")?;
        heads.iter().for_each(|h| self.0.extend_from_slice(&h.0));
        Ok(())
    }
}

struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        if self.0.len() < n {
            return Err(DecodeError::Truncated);
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Ok(head)
    }
    fn u8(&mut self) -> Result<u8, DecodeError> {
        Ok(self.take(1)?[0])
    }
    fn flag(&mut self) -> Result<bool, DecodeError> {
        match self.u8()? {
            0 => Ok(false),
            1 => Ok(true),
            _ => Err(DecodeError::Invalid("a yes/no byte is neither 0 nor 1")),
        }
    }
    fn u16(&mut self) -> Result<u16, DecodeError> {
        let b = self.take(2)?;
        Ok(u16::from_be_bytes([b[0], b[1]]))
    }
    fn u32(&mut self) -> Result<u32, DecodeError> {
        let b = self.take(4)?;
        Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }
    fn u64(&mut self) -> Result<u64, DecodeError> {
        let b = self.take(8)?;
        Ok(u64::from_be_bytes(
            b.try_into().map_err(|_| DecodeError::Truncated)?,
        ))
    }
    fn file_hash(&mut self) -> Result<FileHash, DecodeError> {
        let b = self.take(32)?;
        Ok(FileHash(b.try_into().map_err(|_| DecodeError::Truncated)?))
    }
    /// A chunk number or count: no file has more than
    /// `chunk_count(MAX_FILE_BYTES)` chunks.
    fn chunk_number(&mut self) -> Result<u64, DecodeError> {
        match self.u64()? {
            n if n <= chunk_count(MAX_FILE_BYTES) => Ok(n),
            _ => Err(DecodeError::Invalid("a chunk number no file reaches")),
        }
    }
    fn uuid(&mut self) -> Result<Uuid, DecodeError> {
        let b = self.take(16)?;
        Uuid::from_slice(b).map_err(|_| DecodeError::Truncated)
    }
    fn role(&mut self) -> Result<Role, DecodeError> {
        match self.u8()? {
            1 => Ok(Role::Centre),
            2 => Ok(Role::Office),
            _ => Err(DecodeError::Invalid("unknown role")),
        }
    }
    fn time(&mut self) -> Result<Option<DateTime<Utc>>, DecodeError> {
        let b = self.take(8)?;
        let secs = u64::from_be_bytes(b.try_into().map_err(|_| DecodeError::Truncated)?);
        if secs == 0 {
            return Ok(None);
        }
        i64::try_from(secs)
            .ok()
            .and_then(|s| DateTime::from_timestamp(s, 0))
            .map(Some)
            .ok_or(DecodeError::Invalid("a time out of range"))
    }
    fn hash(&mut self) -> Result<ChangeHash, DecodeError> {
        ChangeHash::try_from(self.take(32)?).map_err(|_| DecodeError::Truncated)
    }
    fn count32(&mut self, max: usize) -> Result<u32, DecodeError> {
        let n = self.u32()?;
        if n as usize > max {
            return Err(DecodeError::Invalid("a count is over its limit"));
        }
        Ok(n)
    }
    fn digest(&mut self) -> Result<BatchDigest, DecodeError> {
        self.take(BATCH_DIGEST_BYTES)?
            .try_into()
            .map_err(|_| DecodeError::Truncated)
    }
    fn bytes(&mut self) -> Result<&'a [u8], DecodeError> {
        let n = self.u32()? as usize;
        self.take(n)
    }
    fn text(&mut self) -> Result<String, DecodeError> {
        let n = usize::from(self.u16()?);
        if n > MAX_TEXT_BYTES {
            return Err(DecodeError::Invalid("text too long"));
        }
        let b = self.take(n)?;
        String::from_utf8(b.to_vec()).map_err(|_| DecodeError::Invalid("text is not UTF-8"))
    }
    fn heads(&mut self) -> Result<Vec<ChangeHash>, DecodeError> {
        self.list(MAX_HEADS, Reader::hash)
    }
    fn list<T>(
        &mut self,
        max: usize,
        item: impl FnMut(&mut Reader<'a>) -> Result<T, DecodeError>,
    ) -> Result<Vec<T>, DecodeError> {
        let n = usize::from(self.u16()?);
        self.items(n, max, item)
    }
    fn items<T>(
        &mut self,
        n: usize,
        max: usize,
        mut item: impl FnMut(&mut Reader<'a>) -> Result<T, DecodeError>,
    ) -> Result<Vec<T>, DecodeError> {
        if n > max {
            return Err(DecodeError::Invalid("a list is longer than its limit"));
        }
        // Every item takes at least one byte: never allocate more than the input holds.
        let mut out = Vec::with_capacity(n.min(self.0.len()));
        for _ in 0..n {
            out.push(item(self)?);
        }
        Ok(out)
    }
}

/// Cuts complete frames out of a byte stream, refusing an over-limit length as
/// soon as its 4 bytes arrive (before buffering the body).
#[derive(Debug, Default)]
pub struct FrameBuffer {
    buf: Vec<u8>,
}

impl FrameBuffer {
    /// Adds received bytes.
    pub fn extend(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// Bytes received but not yet part of a complete frame.
    pub fn pending(&self) -> usize {
        self.buf.len()
    }

    /// The whole size (length prefix included) of the frame being received,
    /// once its length arrived and while it is incomplete.
    pub fn incomplete_frame_bytes(&self) -> Option<usize> {
        let length = u32::from_be_bytes(self.buf.get(..4)?.try_into().ok()?) as usize;
        let whole = length.saturating_add(4);
        (self.buf.len() < whole).then_some(whole)
    }

    /// The next complete frame, if one has fully arrived.
    pub fn next_frame(&mut self) -> Result<Option<Frame>, DecodeError> {
        if self.buf.len() < 4 {
            return Ok(None);
        }
        let length =
            u32::from_be_bytes([self.buf[0], self.buf[1], self.buf[2], self.buf[3]]) as usize;
        if length > MAX_FRAME_BYTES {
            return Err(DecodeError::TooLarge(length));
        }
        if self.buf.len() < 4 + length {
            return Ok(None);
        }
        let rest = self.buf.split_off(4 + length);
        let frame_bytes = std::mem::replace(&mut self.buf, rest);
        Frame::decode(&frame_bytes).map(Some)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(n: u8) -> ChangeHash {
        ChangeHash([n; 32])
    }

    #[test]
    fn every_frame_round_trips() {
        let j = Uuid::from_u128(7);
        let grant = JournalGrant {
            journal: j,
            centre: "Līvāni".into(),
            municipality: "Augšdaugavas novads".into(),
            access: Access::Read,
        };
        let frames = vec![
            Frame::Hello {
                version: PROTOCOL_VERSION,
                software: "field-client 0.1".into(),
                unsent: Some(3),
                journals: vec![j],
            },
            Frame::Hello {
                version: PROTOCOL_VERSION,
                software: "field-client 0.1".into(),
                unsent: None,
                journals: vec![],
            },
            Frame::Health {
                devices: vec![
                    DeviceHealth {
                        device: Uuid::from_u128(1),
                        centre: j,
                        name: "Līgas klēpjdators".into(),
                        role: Role::Centre,
                        revoked: false,
                        enrolled_at: DateTime::from_timestamp(1_780_000_000, 0).expect("time"),
                        last_contact: DateTime::from_timestamp(1_790_000_000, 0),
                        last_synced: None,
                        unsent: Some(12),
                    },
                    DeviceHealth {
                        device: Uuid::from_u128(2),
                        centre: j,
                        name: "Birojs".into(),
                        role: Role::Office,
                        revoked: true,
                        enrolled_at: DateTime::from_timestamp(1_780_000_000, 0).expect("time"),
                        last_contact: None,
                        last_synced: DateTime::from_timestamp(1_790_000_001, 0),
                        unsent: None,
                    },
                ],
            },
            Frame::Welcome {
                version: PROTOCOL_VERSION,
                journals: vec![grant],
            },
            Frame::Open {
                journal: j,
                epoch: 2,
                heads: vec![h(1), h(2)],
                acked: vec![],
            },
            Frame::Heads {
                journal: j,
                epoch: 2,
                heads: vec![h(3)],
                has_acked: true,
            },
            Frame::Changes {
                journal: j,
                more: true,
                sent_before_heads: true,
                count: 2,
                digest: [4; BATCH_DIGEST_BYTES],
                encoding: BatchEncoding::ChangeList,
                bundle: vec![0; 1000],
                attested: vec![],
            },
            Frame::Changes {
                journal: j,
                more: false,
                sent_before_heads: false,
                count: 3,
                digest: [4; BATCH_DIGEST_BYTES],
                encoding: BatchEncoding::Bundle,
                bundle: vec![1; 300],
                attested: vec![
                    BatchAttestation {
                        position: 0,
                        tag: [6; ATTESTATION_TAG_BYTES],
                    },
                    BatchAttestation {
                        position: 2,
                        tag: [7; ATTESTATION_TAG_BYTES],
                    },
                ],
            },
            Frame::Ack {
                journal: j,
                heads: vec![h(4)],
                count: 2,
                digest: [5; BATCH_DIGEST_BYTES],
            },
            Frame::Notify { journal: j },
            Frame::Erase { activity: j },
            Frame::Erased {
                activity: j,
                rewritten: Some((j, 3)),
            },
            Frame::Erased {
                activity: j,
                rewritten: None,
            },
            Frame::Error {
                code: ErrorCode::NotAllowed,
                message: "nē".into(),
            },
            Frame::Enrol {
                secret: [9; 32],
                device: j,
                device_name: "Klēpjdators".into(),
                software: "x".into(),
            },
            Frame::Enrolled {
                journal: j,
                centre: "Preiļu KRC".into(),
                role: Role::Office,
            },
            Frame::FileOffer {
                journal: j,
                activity: Uuid::from_u128(9),
                file: FileHash([4; 32]),
                bytes: MAX_FILE_BYTES,
            },
            Frame::FileHeld {
                file: FileHash([4; 32]),
                chunks_held: 3,
            },
            Frame::FileChunk {
                file: FileHash([4; 32]),
                number: 2,
                bytes: vec![7; FILE_CHUNK_BYTES],
            },
            Frame::FileWant {
                journal: j,
                activity: Uuid::from_u128(9),
                file: FileHash([4; 32]),
                from: 1,
            },
            Frame::FileRefused {
                file: FileHash([4; 32]),
                code: ErrorCode::LimitReached,
                message: "pārāk daudz".into(),
            },
        ];
        for f in frames {
            let bytes = f.encode().unwrap();
            assert_eq!(Frame::decode(&bytes).unwrap(), f);
        }
    }

    #[test]
    fn file_frames_of_impossible_sizes_are_refused_both_ways() {
        let file = FileHash([1; 32]);
        let empty = Frame::FileChunk {
            file,
            number: 0,
            bytes: vec![],
        };
        assert!(empty.encode().is_err());
        let oversized = Frame::FileChunk {
            file,
            number: 0,
            bytes: vec![0; FILE_CHUNK_BYTES + 1],
        };
        assert!(oversized.encode().is_err());
        // The same, made by hand as a peer could.
        let mut w = Writer::default();
        w.0.extend_from_slice(&file.0);
        w.u64(0);
        w.bytes(&vec![0; FILE_CHUNK_BYTES + 1]);
        let mut frame = ((w.0.len() + 2) as u32).to_be_bytes().to_vec();
        frame.extend([17, 0]);
        frame.extend(&w.0);
        assert!(Frame::decode(&frame).is_err());
        let offer = |bytes: u64| {
            let mut w = Writer::default();
            w.uuid(&Uuid::nil());
            w.uuid(&Uuid::nil());
            w.0.extend_from_slice(&file.0);
            w.u64(bytes);
            let mut frame = ((w.0.len() + 2) as u32).to_be_bytes().to_vec();
            frame.extend([15, 0]);
            frame.extend(&w.0);
            Frame::decode(&frame)
        };
        assert!(offer(0).is_err());
        assert!(offer(MAX_FILE_BYTES + 1).is_err());
        assert!(offer(MAX_FILE_BYTES).is_ok());
    }

    #[test]
    fn refuses_oversized_frames_on_both_sides() {
        let big = Frame::Changes {
            journal: Uuid::nil(),
            more: false,
            sent_before_heads: false,
            count: 1,
            digest: [0; BATCH_DIGEST_BYTES],
            encoding: BatchEncoding::Bundle,
            bundle: (0..MAX_FRAME_PAYLOAD_BYTES as u32)
                .map(|i| i.wrapping_mul(2_654_435_761) as u8)
                .collect(),
            attested: vec![],
        };
        assert!(big.encode().is_err());
        let too_many = Frame::Ack {
            journal: Uuid::nil(),
            heads: vec![],
            count: MAX_CHANGES_PER_BATCH as u32 + 1,
            digest: [0; BATCH_DIGEST_BYTES],
        };
        assert!(too_many.encode().is_err());
        let mut header = ((MAX_FRAME_BYTES + 1) as u32).to_be_bytes().to_vec();
        header.extend([5, 0]);
        let mut buf = FrameBuffer::default();
        buf.extend(&header);
        assert_eq!(
            buf.next_frame(),
            Err(DecodeError::TooLarge(MAX_FRAME_BYTES + 1))
        );
    }

    #[test]
    fn one_activity_change_is_compressed_with_the_frame_dictionary() {
        use crate::activity::ActivityInput;
        use crate::journal::{Journal, Stamp};
        let mut journal = Journal::new(automerge::ActorId::from([3_u8; 16]));
        let patch = ActivityInput {
            title: Some("Rokdarbu pēcpusdiena Aglonā".into()),
            kind: Some("workshop".into()),
            date: Some("2026-05-14".into()),
            counts: vec![("children_and_youth".into(), "14".into())],
            description: Some("Pinām grozus no vītoliem kopā ar vecmāmiņām.".into()),
            ..ActivityInput::default()
        }
        .parse()
        .unwrap();
        let stamp = Stamp {
            author: "Aglonas dators",
            now: chrono::DateTime::UNIX_EPOCH,
        };
        let change = journal
            .create(crate::ActivityId(Uuid::from_u128(5)), &patch, stamp)
            .unwrap();
        let frame = Frame::Changes {
            journal: Uuid::nil(),
            more: false,
            sent_before_heads: false,
            count: 1,
            digest: [0; BATCH_DIGEST_BYTES],
            encoding: BatchEncoding::ChangeList,
            bundle: super::super::change_list(&[change]),
            attested: vec![],
        };
        let bytes = frame.encode().unwrap();
        assert_eq!(bytes[5], FLAG_ZSTD_DICTIONARY);
        let mut payload = Writer::default();
        frame.write_payload(&mut payload).unwrap();
        let without = zstd::bulk::compress(&payload.0, ZSTD_LEVEL).unwrap().len();
        assert!(
            bytes.len() + 100 < without,
            "{} B with the dictionary, {without} B without",
            bytes.len()
        );
        assert_eq!(Frame::decode(&bytes).unwrap(), frame);
    }

    #[test]
    fn attestations_must_name_distinct_changes_of_the_batch_in_order() {
        let tag = [6; ATTESTATION_TAG_BYTES];
        let frame = |count, positions: &[u16]| Frame::Changes {
            journal: Uuid::nil(),
            more: false,
            sent_before_heads: false,
            count,
            digest: [1; BATCH_DIGEST_BYTES],
            encoding: BatchEncoding::Bundle,
            bundle: vec![],
            attested: positions
                .iter()
                .map(|&position| BatchAttestation { position, tag })
                .collect(),
        };
        for (count, positions) in [(2, &[1_u16, 1][..]), (2, &[1, 0]), (2, &[2])] {
            assert!(frame(count, positions).encode().is_err(), "{positions:?}");
            // The same bytes, written by hand as a hostile peer would.
            let good = frame(3, &[0]);
            let mut bytes = good.encode().unwrap();
            assert_eq!(bytes[5], 0, "small enough to travel uncompressed");
            assert_eq!(Frame::decode(&bytes).unwrap(), good);
            let mut w = Writer::default();
            w.u16(positions.len() as u16);
            for p in positions {
                w.u16(*p);
                w.0.extend_from_slice(&tag);
            }
            let tail = 2 + 2 + ATTESTATION_TAG_BYTES;
            bytes.truncate(bytes.len() - tail);
            bytes.extend_from_slice(&w.0);
            // Header, journal, flags: then the batch's count.
            let count_at = FRAME_HEADER_BYTES + 16 + 1;
            bytes[count_at..count_at + 4].copy_from_slice(&count.to_be_bytes());
            let length = (bytes.len() - 4) as u32;
            bytes[..4].copy_from_slice(&length.to_be_bytes());
            assert!(Frame::decode(&bytes).is_err(), "{positions:?} decoded");
        }
    }

    #[test]
    fn compression_shrinks_repetitive_payloads() {
        let f = Frame::Changes {
            journal: Uuid::nil(),
            more: false,
            sent_before_heads: false,
            count: 1,
            digest: [1; BATCH_DIGEST_BYTES],
            encoding: BatchEncoding::Bundle,
            bundle: vec![42; 10_000],
            attested: vec![],
        };
        let bytes = f.encode().unwrap();
        assert!(bytes.len() < 1_000, "{} bytes", bytes.len());
        assert!([FLAG_ZSTD, FLAG_ZSTD_DICTIONARY].contains(&bytes[5]));
        assert_eq!(Frame::decode(&bytes).unwrap(), f);
    }
}
