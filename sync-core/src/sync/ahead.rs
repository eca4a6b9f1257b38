//! Receiving on two cores: while a session handles one frame, the batch of
//! the frame after it, when that one is already here, is unpacked and its
//! changes checked on another thread. Unpacking a bundle and checking each
//! change's encoding need no document; they were a quarter of a relay's
//! time in a 50,000-activity first sync, and a fifth of an office's first
//! download, spent while the other core waited.
//!
//! Only what the order of frames cannot change is done ahead: the frame is
//! still handled in its turn, after the one before it, and its unpacked batch
//! is used only where handling it would have unpacked it (so a batch its
//! round would drop is never looked at, and a damaged one is refused at the
//! same point as before). A batch unpacked ahead of a frame that closes the
//! session is dropped unused.

use std::time::Instant;

use super::wire::{DecodeError, FrameBuffer};
use super::{
    BatchDigest, BatchEncoding, ErrorCode, Frame, ProtocolError, Received, SessionError,
    error_frame, unpack_batch,
};

/// A session as its receive path drives it: each complete frame in turn.
pub(super) trait HandlesFrames<S: ?Sized> {
    /// Handles one frame (a refusal ends the session as the session's kind
    /// ends it); false once the session is closed.
    fn handle_one(
        &mut self,
        now: Instant,
        frame: Frame,
        unpacked: Option<Unpacked>,
        storage: &mut S,
    ) -> bool;
    /// Received bytes that are not a frame: tell the peer, close.
    fn fail_decode(&mut self, e: DecodeError);
}

/// How a session refuses received bytes that are not a frame: the `Error`
/// frame telling the peer why, and why it closes.
pub(super) fn decode_refusal(e: DecodeError) -> (Option<Vec<u8>>, SessionError) {
    let code = if matches!(e, DecodeError::TooLarge(_)) {
        ErrorCode::TooLarge
    } else {
        ErrorCode::Malformed
    };
    let frame = error_frame(code, &e.to_string());
    (frame, ProtocolError::Unreadable(e).into())
}

/// Both sessions' receive path: the complete frames in `frames`, in order,
/// each handed to `session` with the next one's batch unpacked beside,
/// until none is left or the session closes.
pub(super) fn handle_frames<H: HandlesFrames<S>, S: ?Sized>(
    session: &mut H,
    now: Instant,
    frames: &mut FrameBuffer,
    storage: &mut S,
) {
    let mut walk = FrameWalk::default();
    loop {
        match walk.next(frames) {
            Ok(Some((frame, unpacked))) => {
                let open = walk
                    .handle_beside(frames, || session.handle_one(now, frame, unpacked, storage));
                if !open {
                    return;
                }
            }
            Ok(None) => return,
            Err(e) => return session.fail_decode(e),
        }
    }
}

/// A `Changes` frame's batch, unpacked and its changes checked ahead.
pub(super) type Unpacked = Result<Received, SessionError>;

/// One `handle_bytes` call's walk over the complete frames received: each
/// frame in turn ([`FrameWalk::next`]), handled through
/// [`FrameWalk::handle_beside`], which unpacks the next frame's batch beside.
#[derive(Default)]
struct FrameWalk {
    /// The frame after the one being handled, taken from the buffer early
    /// (or why it could not be decoded: told once the one before is handled).
    next: Option<Result<Frame, DecodeError>>,
    /// `next`'s batch, unpacked ahead.
    next_unpacked: Option<Unpacked>,
}

impl FrameWalk {
    /// The next complete frame, with its batch if it was unpacked ahead.
    fn next(
        &mut self,
        frames: &mut FrameBuffer,
    ) -> Result<Option<(Frame, Option<Unpacked>)>, DecodeError> {
        match self.next.take() {
            Some(frame) => Ok(Some((frame?, self.next_unpacked.take()))),
            None => Ok(frames.next_frame()?.map(|frame| (frame, None))),
        }
    }

    /// Runs `handle` (handling the frame [`FrameWalk::next`] gave) while the
    /// batch of the frame after it, if it is already in `frames`, is unpacked
    /// on another thread. With no thread to be had, it is unpacked in its turn.
    fn handle_beside<T>(&mut self, frames: &mut FrameBuffer, handle: impl FnOnce() -> T) -> T {
        if self.next.is_none() {
            self.next = frames.next_frame().transpose();
        }
        let Some(batch) = self
            .next
            .as_ref()
            .and_then(|f| f.as_ref().ok())
            .and_then(batch_of)
        else {
            return handle();
        };
        let next_unpacked = &mut self.next_unpacked;
        std::thread::scope(|scope| {
            let worker = std::thread::Builder::new()
                .name("unpack ahead".into())
                .spawn_scoped(scope, move || unpack_checked(batch));
            let handled = handle();
            // A worker that panicked (the checks catch the library's panics)
            // leaves the batch to be unpacked in its turn, on this thread.
            *next_unpacked = worker.ok().and_then(|w| w.join().ok());
            handled
        })
    }
}

/// The fields of a `Changes` frame that unpacking reads; `None` for any
/// other frame and for an empty batch (nothing to do ahead).
fn batch_of(frame: &Frame) -> Option<(u32, &BatchDigest, BatchEncoding, &[u8])> {
    match frame {
        Frame::Changes {
            count,
            digest,
            encoding,
            bundle,
            ..
        } if *count > 0 => Some((*count, digest, *encoding, bundle)),
        _ => None,
    }
}

/// A batch unpacked ([`unpack_batch`]) and its changes checked.
fn unpack_checked(
    (count, digest, encoding, bundle): (u32, &BatchDigest, BatchEncoding, &[u8]),
) -> Unpacked {
    unpack_batch(count, digest, encoding, bundle).map(Received::checked_ahead)
}

/// A batch as handling its frame needs it: unpacked ahead, or now.
pub(super) fn unpacked_now_or_ahead(
    ahead: Option<Unpacked>,
    (count, digest, encoding, bundle): (u32, &BatchDigest, BatchEncoding, &[u8]),
) -> Unpacked {
    ahead.unwrap_or_else(|| unpack_batch(count, digest, encoding, bundle).map(Received::from))
}
